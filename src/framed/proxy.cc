#include "framed/proxy.h"

#include <algorithm>
#include <string_view>

namespace framed {
namespace {

// The v2 signature: chosen by HAProxy so that it can never start a valid
// v1 line or an HTTP request.
constexpr std::uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t kV2Fixed = 16;
constexpr std::string_view kV1Prefix = "PROXY ";

// Address block sizes of the v2 families (doc/proxy-protocol.txt, 2.2).
constexpr std::uint16_t kInetBlock = 12;
constexpr std::uint16_t kInet6Block = 36;
constexpr std::uint16_t kUnixBlock = 216;

constexpr std::uint8_t u8(std::byte b) noexcept { return std::to_integer<std::uint8_t>(b); }

constexpr std::uint16_t be16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>((u8(p[0]) << 8U) | u8(p[1]));
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A dotted quad: four decimals 0-255, no leading zeros (a leading zero
// reads as octal to inet_aton, so "010" would be ambiguous), nothing else.
bool parse_ipv4(std::string_view s, std::uint8_t* out) noexcept {
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) {
      value = value * 10U + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    if (i == start || value > 255U) return false;
    if (i - start > 1 && s[start] == '0') return false;
    out[part] = static_cast<std::uint8_t>(value);
  }
  return i == s.size();
}

// An IPv6 literal as RFC 4291 §2.2 writes it: up to eight groups of one to
// four hex digits, at most one "::" standing for one or more zero groups,
// and optionally a dotted quad as the last 32 bits.
bool parse_ipv6(std::string_view s, std::uint8_t* out) noexcept {
  std::uint16_t groups[8] = {};
  int n = 0;
  int gap = -1;  // Index of the group where "::" stands, if any.
  std::size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
  } else if (s.empty() || s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    if (n == 8) return false;
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && hex_value(s[i]) >= 0 && i - start < 4) {
      value = value * 16U + static_cast<unsigned>(hex_value(s[i]));
      ++i;
    }
    if (i < s.size() && s[i] == '.') {
      // An embedded IPv4 address takes the last two groups.
      std::uint8_t v4[4];
      if (n > 6 || !parse_ipv4(s.substr(start), v4)) return false;
      groups[n++] = static_cast<std::uint16_t>((v4[0] << 8U) | v4[1]);
      groups[n++] = static_cast<std::uint16_t>((v4[2] << 8U) | v4[3]);
      break;
    }
    if (i == start) return false;
    groups[n++] = static_cast<std::uint16_t>(value);
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false;  // A single trailing ':'.
    }
  }
  if (gap < 0 ? n != 8 : n > 7) return false;
  std::uint16_t full[8] = {};
  if (gap < 0) {
    for (int k = 0; k < 8; ++k) full[k] = groups[k];
  } else {
    const int tail = n - gap;
    for (int k = 0; k < gap; ++k) full[k] = groups[k];
    for (int k = 0; k < tail; ++k) full[8 - tail + k] = groups[gap + k];
  }
  for (std::size_t k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<std::uint8_t>(full[k] >> 8U);
    out[2 * k + 1] = static_cast<std::uint8_t>(full[k] & 0xFFU);
  }
  return true;
}

// A decimal port 0-65535: one to five digits, no sign, no leading zero.
bool parse_port(std::string_view s, std::uint16_t& out) noexcept {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned value = 0;
  for (const char c : s) {
    if (!is_digit(c)) return false;
    value = value * 10U + static_cast<unsigned>(c - '0');
  }
  if (value > 65535U) return false;
  out = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::string_view to_string(ProxyError error) noexcept {
  switch (error) {
    case ProxyError::none: return "none";
    case ProxyError::not_proxy: return "not_proxy";
    case ProxyError::v1_too_long: return "v1_too_long";
    case ProxyError::v1_bad_line_ending: return "v1_bad_line_ending";
    case ProxyError::v1_bad_protocol: return "v1_bad_protocol";
    case ProxyError::v1_bad_syntax: return "v1_bad_syntax";
    case ProxyError::v1_bad_address: return "v1_bad_address";
    case ProxyError::v1_bad_port: return "v1_bad_port";
    case ProxyError::v2_bad_version: return "v2_bad_version";
    case ProxyError::v2_bad_command: return "v2_bad_command";
    case ProxyError::v2_bad_family: return "v2_bad_family";
    case ProxyError::v2_length_too_short: return "v2_length_too_short";
    case ProxyError::v2_length_too_long: return "v2_length_too_long";
    case ProxyError::v2_bad_tlv: return "v2_bad_tlv";
    case ProxyError::truncated: return "truncated";
  }
  return "unknown";
}

std::string_view to_string(ProxyFamily family) noexcept {
  switch (family) {
    case ProxyFamily::unknown: return "UNKNOWN";
    case ProxyFamily::tcp4: return "TCP4";
    case ProxyFamily::tcp6: return "TCP6";
    case ProxyFamily::unix_stream: return "UNIX";
    case ProxyFamily::unspec: return "UNSPEC";
  }
  return "?";
}

ProxyResult ProxyParser::fail(ProxyError e, std::size_t consumed) noexcept {
  offset_ += consumed;
  error_ = e;
  error_offset_ = offset_;
  stage_ = Stage::error;
  return {ProxyStatus::error, consumed};
}

ProxyResult ProxyParser::feed(std::span<const std::byte> input) noexcept {
  if (stage_ == Stage::error) return {ProxyStatus::error, 0};
  if (stage_ == Stage::done) return {ProxyStatus::done, 0};
  const std::size_t size = input.size();
  std::size_t pos = 0;
  while (pos < size) {
    switch (stage_) {
      case Stage::start:
        // The first byte picks the version; the stage then checks it again
        // as part of its prefix, so nothing is consumed here.
        if (input[pos] == std::byte{'P'}) {
          stage_ = Stage::v1;
        } else if (u8(input[pos]) == kSignature[0]) {
          stage_ = Stage::v2_fixed;
          need_ = kV2Fixed;
        } else {
          return fail(ProxyError::not_proxy, pos + 1);
        }
        break;

      case Stage::v1: {
        const std::byte b = input[pos++];
        // "PROXY " is checked byte by byte, so a stream that is not a PROXY
        // header fails on its first wrong byte, not after 107.
        if (have_ < kV1Prefix.size() && b != static_cast<std::byte>(kV1Prefix[have_])) {
          return fail(ProxyError::not_proxy, pos);
        }
        buf_[have_++] = b;
        if (b == std::byte{'\n'}) {
          if (have_ < 2 || buf_[have_ - 2] != std::byte{'\r'}) {
            return fail(ProxyError::v1_bad_line_ending, pos);
          }
          if (const ProxyError e = parse_v1(); e != ProxyError::none) return fail(e, pos);
          stage_ = Stage::done;
          break;
        }
        if (have_ >= 2 && buf_[have_ - 2] == std::byte{'\r'}) {
          return fail(ProxyError::v1_bad_line_ending, pos);
        }
        if (have_ >= kProxyV1MaxLine) return fail(ProxyError::v1_too_long, pos);
        break;
      }

      case Stage::v2_fixed: {
        const std::byte b = input[pos++];
        if (have_ < sizeof kSignature && u8(b) != kSignature[have_]) {
          return fail(ProxyError::not_proxy, pos);
        }
        buf_[have_++] = b;
        // Each field is judged as soon as its byte arrives.
        if (have_ == 13) {
          if ((u8(b) >> 4U) != 2U) return fail(ProxyError::v2_bad_version, pos);
          if ((u8(b) & 0x0FU) > 1U) return fail(ProxyError::v2_bad_command, pos);
        } else if (have_ == 14 && (u8(buf_[12]) & 0x0FU) == 1U) {
          // Only PROXY looks at the family: LOCAL discards it (2.2).
          const std::uint8_t fam = u8(b);
          if (fam != 0x00 && fam != 0x11 && fam != 0x21 && fam != 0x31) {
            return fail(ProxyError::v2_bad_family, pos);
          }
        } else if (have_ == kV2Fixed) {
          if (const ProxyError e = start_v2_body(); e != ProxyError::none) return fail(e, pos);
        }
        break;
      }

      case Stage::v2_addr:
        buf_[have_++] = input[pos++];
        --v2_left_;
        if (have_ == need_) {
          finish_v2_addresses();
          next_tlv();
          if (stage_ == Stage::error) return fail(ProxyError::v2_bad_tlv, pos);
        }
        break;

      case Stage::v2_skip:
      case Stage::v2_value: {
        const std::size_t take = std::min<std::size_t>(skip_, size - pos);
        pos += take;
        skip_ = static_cast<std::uint16_t>(skip_ - take);
        if (skip_ == 0) {
          next_tlv();
          if (stage_ == Stage::error) return fail(ProxyError::v2_bad_tlv, pos);
        }
        break;
      }

      case Stage::v2_tlv:
        tlv_[have_++] = input[pos++];
        --v2_left_;
        if (have_ == sizeof tlv_) {
          // The value must end inside the header: a TLV that claims more is
          // the classic overread, caught before a byte of it is skipped.
          const std::uint16_t length = be16(tlv_ + 1);
          if (length > v2_left_) return fail(ProxyError::v2_bad_tlv, pos);
          v2_left_ = static_cast<std::uint16_t>(v2_left_ - length);
          skip_ = length;
          stage_ = Stage::v2_value;
          if (skip_ == 0) {
            next_tlv();
            if (stage_ == Stage::error) return fail(ProxyError::v2_bad_tlv, pos);
          }
        }
        break;

      case Stage::done:
      case Stage::error: break;
    }
    if (stage_ == Stage::done) {
      offset_ += pos;
      return {ProxyStatus::done, pos};
    }
  }
  offset_ += pos;
  return {ProxyStatus::need_more, pos};
}

ProxyError ProxyParser::finish() noexcept {
  if (error_ == ProxyError::none && stage_ != Stage::start && stage_ != Stage::done) {
    error_ = ProxyError::truncated;
    error_offset_ = offset_;
    stage_ = Stage::error;
  }
  return error_;
}

ProxyError ProxyParser::parse_v1() noexcept {
  header_.version = 1;
  header_.command = ProxyCommand::proxy;
  // The line without "PROXY " and without CRLF.
  const std::string_view line(reinterpret_cast<const char*>(buf_) + kV1Prefix.size(),
                              have_ - kV1Prefix.size() - 2);
  const std::size_t space = line.find(' ');
  const std::string_view protocol = line.substr(0, space);
  if (protocol == "UNKNOWN") {
    // The receiver ignores whatever follows UNKNOWN up to the CRLF (2.1).
    header_.family = ProxyFamily::unknown;
    return ProxyError::none;
  }
  bool v6 = false;
  if (protocol == "TCP6") {
    v6 = true;
  } else if (protocol != "TCP4") {
    return ProxyError::v1_bad_protocol;
  }
  if (space == std::string_view::npos) return ProxyError::v1_bad_syntax;
  // Exactly four fields, each separated by one space: an empty field is
  // two spaces in a row, or a space at either end.
  std::string_view fields[4];
  std::string_view rest = line.substr(space + 1);
  for (int k = 0; k < 4; ++k) {
    const std::size_t end = rest.find(' ');
    if ((end == std::string_view::npos) != (k == 3)) return ProxyError::v1_bad_syntax;
    fields[k] = rest.substr(0, end);
    if (fields[k].empty()) return ProxyError::v1_bad_syntax;
    if (k < 3) rest = rest.substr(end + 1);
  }
  header_.family = v6 ? ProxyFamily::tcp6 : ProxyFamily::tcp4;
  for (int k = 0; k < 2; ++k) {
    ProxyAddress& a = k == 0 ? header_.source : header_.destination;
    const bool ok =
        v6 ? parse_ipv6(fields[k], a.bytes.data()) : parse_ipv4(fields[k], a.bytes.data());
    if (!ok) return ProxyError::v1_bad_address;
  }
  if (!parse_port(fields[2], header_.source.port) ||
      !parse_port(fields[3], header_.destination.port)) {
    return ProxyError::v1_bad_port;
  }
  return ProxyError::none;
}

ProxyError ProxyParser::start_v2_body() noexcept {
  header_.version = 2;
  const std::uint16_t length = be16(buf_ + 14);
  if (length > v2_max_) return ProxyError::v2_length_too_long;
  if ((u8(buf_[12]) & 0x0FU) == 0U) {
    // LOCAL: the proxy's own connection. The block, family included, is
    // discarded unread (2.2), so a health check's TLVs never matter.
    header_.command = ProxyCommand::local;
    header_.family = ProxyFamily::unspec;
    v2_left_ = 0;
    skip_ = length;
    stage_ = Stage::v2_skip;
    if (skip_ == 0) next_tlv();
    return ProxyError::none;
  }
  header_.command = ProxyCommand::proxy;
  std::uint16_t block = 0;
  switch (u8(buf_[13])) {
    case 0x11:
      header_.family = ProxyFamily::tcp4;
      block = kInetBlock;
      break;
    case 0x21:
      header_.family = ProxyFamily::tcp6;
      block = kInet6Block;
      break;
    case 0x31:
      header_.family = ProxyFamily::unix_stream;
      block = kUnixBlock;
      break;
    default: header_.family = ProxyFamily::unspec; break;
  }
  if (length < block) return ProxyError::v2_length_too_short;
  if (header_.family == ProxyFamily::unspec) {
    // No address block is defined, so nothing after the header is either:
    // skipped unread, like LOCAL.
    v2_left_ = 0;
    skip_ = length;
    stage_ = Stage::v2_skip;
    if (skip_ == 0) next_tlv();
    return ProxyError::none;
  }
  v2_left_ = static_cast<std::uint16_t>(length);
  if (header_.family == ProxyFamily::unix_stream) {
    // Paths are of no use to a TCP server: skipped, never buffered.
    v2_left_ = static_cast<std::uint16_t>(length - block);
    skip_ = block;
    stage_ = Stage::v2_skip;
    return ProxyError::none;
  }
  need_ = static_cast<std::uint8_t>(kV2Fixed + block);
  stage_ = Stage::v2_addr;
  return ProxyError::none;
}

void ProxyParser::finish_v2_addresses() noexcept {
  const std::size_t n = header_.family == ProxyFamily::tcp4 ? 4 : 16;
  const std::byte* p = buf_ + kV2Fixed;
  for (std::size_t k = 0; k < n; ++k) {
    header_.source.bytes[k] = u8(p[k]);
    header_.destination.bytes[k] = u8(p[n + k]);
  }
  header_.source.port = be16(p + 2 * n);
  header_.destination.port = be16(p + 2 * n + 2);
}

void ProxyParser::next_tlv() noexcept {
  have_ = 0;
  if (v2_left_ == 0) {
    stage_ = Stage::done;
  } else if (v2_left_ < sizeof tlv_) {
    // Fewer bytes left than a TLV header: the TLV runs past the end. The
    // caller turns this stage into the error.
    stage_ = Stage::error;
  } else {
    stage_ = Stage::v2_tlv;
  }
}

}  // namespace framed
