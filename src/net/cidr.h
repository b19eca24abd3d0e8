// Address ranges in CIDR notation ("127.0.0.0/8", "::1/128"), for
// --proxy-from: which peers may send a PROXY header.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace framed::net {

struct Cidr {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // The network, host bits cleared.
  unsigned prefix = 0;                   // 0-32 (IPv4) or 0-128 (IPv6).
};

// "ADDR/LEN" or a bare address (a /32 or /128). nullopt if malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

// Parses each of `texts`; on the first bad one returns false with `bad` set
// to it.
bool parse_cidrs(const std::vector<std::string>& texts, std::vector<Cidr>& out, std::string& bad);

// Splits "A,B,C" (no empty items) into `out`; false on an empty item.
bool split_list(std::string_view text, std::vector<std::string>& out);

// Whether `addr` (AF_INET or AF_INET6) lies in `range`. An IPv4-mapped IPv6
// peer (::ffff:a.b.c.d) matches IPv4 ranges by its IPv4 address.
bool contains(const Cidr& range, const sockaddr_storage& addr);
bool contains_any(const std::vector<Cidr>& ranges, const sockaddr_storage& addr);

}  // namespace framed::net
