#include "net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace framed::net {

std::optional<Cidr> parse_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string host(text.substr(0, slash));
  Cidr c;
  if (inet_pton(AF_INET, host.c_str(), c.bytes.data()) == 1) {
    c.v6 = false;
  } else if (inet_pton(AF_INET6, host.c_str(), c.bytes.data()) == 1) {
    c.v6 = true;
  } else {
    return std::nullopt;
  }
  const unsigned max = c.v6 ? 128U : 32U;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), c.prefix);
    if (len.empty() || ec != std::errc() || ptr != len.data() + len.size() || c.prefix > max) {
      return std::nullopt;
    }
  }
  // Clearing the host bits makes "127.0.0.1/8" mean what it says: 127/8.
  for (unsigned bit = c.prefix; bit < max; ++bit) {
    c.bytes[bit / 8] = static_cast<std::uint8_t>(c.bytes[bit / 8] & ~(0x80U >> (bit % 8)));
  }
  return c;
}

bool parse_cidrs(const std::vector<std::string>& texts, std::vector<Cidr>& out, std::string& bad) {
  out.clear();
  for (const std::string& t : texts) {
    const auto c = parse_cidr(t);
    if (!c) {
      bad = t;
      return false;
    }
    out.push_back(*c);
  }
  return true;
}

bool split_list(std::string_view text, std::vector<std::string>& out) {
  out.clear();
  for (;;) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (item.empty()) return false;
    out.emplace_back(item);
    if (comma == std::string_view::npos) return true;
    text = text.substr(comma + 1);
  }
}

bool contains(const Cidr& range, const sockaddr_storage& addr) {
  std::uint8_t bytes[16] = {};
  bool v6 = false;
  if (addr.ss_family == AF_INET) {
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, 4);
  } else if (addr.ss_family == AF_INET6) {
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, 16);
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(bytes, kMapped, sizeof kMapped) == 0 && !range.v6) {
      std::memmove(bytes, bytes + 12, 4);
    } else {
      v6 = true;
    }
  } else {
    return false;
  }
  if (v6 != range.v6) return false;
  for (unsigned bit = 0; bit < range.prefix; ++bit) {
    const auto mask = static_cast<std::uint8_t>(0x80U >> (bit % 8));
    if ((bytes[bit / 8] & mask) != (range.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

bool contains_any(const std::vector<Cidr>& ranges, const sockaddr_storage& addr) {
  for (const Cidr& r : ranges) {
    if (contains(r, addr)) return true;
  }
  return false;
}

}  // namespace framed::net
