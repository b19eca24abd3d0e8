// PROXY headers for property tests: a generator of the headers a sender may
// write, and an encoder that writes them as HAProxy would (doc/proxy-
// protocol.txt), so encode-then-parse can be checked for identity.
#pragma once

#include <arpa/inet.h>
#include <rapidcheck.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "framed/proxy.h"

namespace framed::test {

struct Tlv {
  std::uint8_t type = 0;
  std::vector<std::uint8_t> value;
};

// A header as sent, with what only the wire carries: v2 LOCAL's ignored
// family byte and block, and TLVs.
struct SentHeader {
  ProxyHeader header;
  std::uint8_t local_fam = 0;             // v2 LOCAL: any byte.
  std::vector<std::uint8_t> local_block;  // v2 LOCAL: any bytes.
  std::vector<Tlv> tlvs;                  // v2 PROXY tcp4/tcp6/unix.
};

inline std::string v1_address(bool v6, const ProxyAddress& a) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, a.bytes.data(), text, sizeof text);
  return text;
}

inline std::vector<std::byte> encode_proxy(const SentHeader& s) {
  const ProxyHeader& h = s.header;
  std::vector<std::byte> out;
  auto put = [&out](std::uint8_t b) { out.push_back(static_cast<std::byte>(b)); };
  if (h.version == 1) {
    std::string line = "PROXY ";
    if (h.family == ProxyFamily::unknown) {
      line += "UNKNOWN";
    } else {
      const bool v6 = h.family == ProxyFamily::tcp6;
      line += std::string(v6 ? "TCP6 " : "TCP4 ") + v1_address(v6, h.source) + " " +
              v1_address(v6, h.destination) + " " + std::to_string(h.source.port) + " " +
              std::to_string(h.destination.port);
    }
    line += "\r\n";
    for (const char c : line) put(static_cast<std::uint8_t>(c));
    return out;
  }
  static constexpr std::uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  for (const std::uint8_t b : kSignature) put(b);
  std::vector<std::uint8_t> body;
  std::uint8_t fam = s.local_fam;
  if (h.command == ProxyCommand::local) {
    put(0x20);
    body = s.local_block;
  } else {
    put(0x21);
    const std::size_t n = h.family == ProxyFamily::tcp4 ? 4 : 16;
    switch (h.family) {
      case ProxyFamily::tcp4: fam = 0x11; break;
      case ProxyFamily::tcp6: fam = 0x21; break;
      case ProxyFamily::unix_stream: fam = 0x31; break;
      default: fam = 0x00; break;
    }
    if (h.family == ProxyFamily::tcp4 || h.family == ProxyFamily::tcp6) {
      for (std::size_t k = 0; k < n; ++k) body.push_back(h.source.bytes[k]);
      for (std::size_t k = 0; k < n; ++k) body.push_back(h.destination.bytes[k]);
      for (const std::uint16_t p : {h.source.port, h.destination.port}) {
        body.push_back(static_cast<std::uint8_t>(p >> 8U));
        body.push_back(static_cast<std::uint8_t>(p & 0xFFU));
      }
    } else if (h.family == ProxyFamily::unix_stream) {
      body.resize(216, 0x2F);
    }
    if (h.family != ProxyFamily::unspec) {
      for (const Tlv& t : s.tlvs) {
        body.push_back(t.type);
        body.push_back(static_cast<std::uint8_t>(t.value.size() >> 8U));
        body.push_back(static_cast<std::uint8_t>(t.value.size() & 0xFFU));
        body.insert(body.end(), t.value.begin(), t.value.end());
      }
    }
  }
  put(fam);
  put(static_cast<std::uint8_t>(body.size() >> 8U));
  put(static_cast<std::uint8_t>(body.size() & 0xFFU));
  for (const std::uint8_t b : body) put(b);
  return out;
}

inline rc::Gen<ProxyAddress> proxy_address(bool v6) {
  return rc::gen::exec([v6] {
    ProxyAddress a;
    for (std::size_t k = 0; k < (v6 ? 16U : 4U); ++k)
      a.bytes[k] = *rc::gen::arbitrary<std::uint8_t>();
    a.port = *rc::gen::arbitrary<std::uint16_t>();
    return a;
  });
}

// Every header a sender may write; the parsed header must equal `header`.
inline rc::Gen<SentHeader> sent_header() {
  return rc::gen::exec([] {
    SentHeader s;
    ProxyHeader& h = s.header;
    h.version = *rc::gen::element<std::uint8_t>(1, 2);
    if (h.version == 1) {
      h.command = ProxyCommand::proxy;
      h.family = *rc::gen::element(ProxyFamily::tcp4, ProxyFamily::tcp6, ProxyFamily::unknown);
    } else {
      h.command = *rc::gen::element(ProxyCommand::local, ProxyCommand::proxy);
      h.family = h.command == ProxyCommand::local
                     ? ProxyFamily::unspec
                     : *rc::gen::element(ProxyFamily::tcp4, ProxyFamily::tcp6,
                                         ProxyFamily::unix_stream, ProxyFamily::unspec);
    }
    if (h.family == ProxyFamily::tcp4 || h.family == ProxyFamily::tcp6) {
      h.source = *proxy_address(h.family == ProxyFamily::tcp6);
      h.destination = *proxy_address(h.family == ProxyFamily::tcp6);
    }
    if (h.version == 2 && h.command == ProxyCommand::local) {
      s.local_fam = *rc::gen::arbitrary<std::uint8_t>();
      s.local_block = *rc::gen::resize(
          40, rc::gen::container<std::vector<std::uint8_t>>(rc::gen::arbitrary<std::uint8_t>()));
    }
    if (h.version == 2 && h.command == ProxyCommand::proxy && h.family != ProxyFamily::unspec) {
      s.tlvs = *rc::gen::resize(6, rc::gen::container<std::vector<Tlv>>(rc::gen::exec([] {
                                  Tlv t;
                                  t.type = *rc::gen::arbitrary<std::uint8_t>();
                                  t.value = *rc::gen::resize(
                                      60, rc::gen::container<std::vector<std::uint8_t>>(
                                              rc::gen::arbitrary<std::uint8_t>()));
                                  return t;
                                })));
    }
    return s;
  });
}

}  // namespace framed::test
