#include "net/proxy_text.h"

#include <arpa/inet.h>

#include <cstdio>

namespace framed::net {

std::string address_text(ProxyFamily family, const ProxyAddress& address) {
  char host[INET6_ADDRSTRLEN] = "?";
  const bool v6 = family == ProxyFamily::tcp6;
  if (!v6 && family != ProxyFamily::tcp4) return "?";
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, address.bytes.data(), host, sizeof host) == nullptr) {
    return "?";
  }
  // snprintf, as Endpoint::to_string does: gcc 12 at -O3 reports a false
  // -Wrestrict on string concatenation here.
  char text[INET6_ADDRSTRLEN + 16];
  std::snprintf(text, sizeof text, v6 ? "[%s]:%u" : "%s:%u", host,
                static_cast<unsigned>(address.port));
  return text;
}

std::string describe(const ProxyHeader& header) {
  std::string out = "v" + std::to_string(header.version);
  if (header.command == ProxyCommand::local) return out + " LOCAL";
  out += " PROXY ";
  out += to_string(header.family);
  if (header.has_addresses()) {
    out += " " + address_text(header.family, header.source) + " -> " +
           address_text(header.family, header.destination);
  }
  return out;
}

}  // namespace framed::net
