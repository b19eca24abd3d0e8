/// @file
/// Incremental parser for the PROXY protocol header, versions 1 and 2
/// (HAProxy's doc/proxy-protocol.txt; the rules we enforce are in
/// spec/PROXY.md).
///
/// A ProxyParser follows the frame decoder's rules: it is a small value the
/// caller owns, it accepts its input in any split (down to one byte per
/// call), it never allocates, never throws and never reads outside the span
/// it is given, and its errors have fixed codes and are sticky until reset().
/// It holds at most what the header format bounds: a v1 line (107 bytes) or
/// the 16-byte v2 header plus an INET6 address block (36 bytes). TLVs and the
/// UNIX address block are skipped as they stream by, never buffered. Bytes
/// after the header are never consumed: they belong to the frame stream.
/// It includes no socket header; addresses are plain bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace framed {

/// The largest v2 length field (the bytes after the 16-byte header) accepted
/// unless told otherwise. The field could announce 65,535 bytes; HAProxy
/// itself never sends near this many, and a limit bounds the time a peer can
/// keep a connection in the header phase with TLVs we skip anyway.
inline constexpr std::uint16_t kDefaultProxyV2Max = 4096;

/// The longest v1 line, "PROXY TCP6 <39> <39> 65535 65535\r\n".
inline constexpr std::size_t kProxyV1MaxLine = 107;

/// Parser errors. The numeric values are part of spec/PROXY.md and never
/// change meaning; new errors take new values.
enum class ProxyError : std::uint8_t {
  none = 0,
  /// The first bytes are neither "PROXY " nor the v2 signature.
  not_proxy = 1,
  /// No CRLF within 107 bytes.
  v1_too_long = 2,
  /// A CR not followed by LF, or an LF without a CR before it.
  v1_bad_line_ending = 3,
  /// The protocol field is not TCP4, TCP6 or UNKNOWN.
  v1_bad_protocol = 4,
  /// Not exactly four fields after the protocol, separated by single spaces.
  v1_bad_syntax = 5,
  /// An address that is not a valid IPv4 (TCP4) or IPv6 (TCP6) literal.
  v1_bad_address = 6,
  /// A port that is not a decimal from 0 to 65535 without sign or leading 0.
  v1_bad_port = 7,
  /// The 13th byte's high nibble (the version) is not 2.
  v2_bad_version = 8,
  /// The 13th byte's low nibble (the command) is neither LOCAL nor PROXY.
  v2_bad_command = 9,
  /// With PROXY, the 14th byte is not one of UNSPEC (00), TCP over IPv4 (11),
  /// IPv6 (21) or a UNIX stream (31).
  v2_bad_family = 10,
  /// The length is below the address block that the family needs.
  v2_length_too_short = 11,
  /// The length is above the parser's v2 limit.
  v2_length_too_long = 12,
  /// A TLV (or its 3-byte header) runs past the end of the header.
  v2_bad_tlv = 13,
  /// finish() was called with a header begun but not complete.
  truncated = 14,
};

/// Returns the spec name of `error` ("v2_bad_tlv", ...), or "unknown" for a
/// value outside the enumeration. The returned view is static.
[[nodiscard]] std::string_view to_string(ProxyError error) noexcept;

enum class ProxyStatus : std::uint8_t {
  /// Every input byte was consumed; the header is not complete yet.
  need_more = 0,
  /// The header is complete; header() holds it. Bytes after it were not
  /// consumed.
  done = 1,
  /// The header is invalid; see error() and error_offset().
  error = 2,
};

struct ProxyResult {
  ProxyStatus status = ProxyStatus::need_more;
  /// Input bytes consumed by this call, always <= input.size().
  std::size_t consumed = 0;
};

enum class ProxyCommand : std::uint8_t {
  /// A connection made by the proxy itself (v2 LOCAL, e.g. a health check):
  /// the connection's real endpoints stand.
  local = 0,
  /// A relayed connection: the header's addresses are the client's.
  proxy = 1,
};

enum class ProxyFamily : std::uint8_t {
  unknown = 0,      ///< v1 "UNKNOWN": use the real endpoints.
  tcp4 = 1,         ///< v1 TCP4, v2 INET + STREAM.
  tcp6 = 2,         ///< v1 TCP6, v2 INET6 + STREAM.
  unix_stream = 3,  ///< v2 UNIX + STREAM: paths, not kept.
  unspec = 4,       ///< v2 UNSPEC (and every v2 LOCAL): use the real endpoints.
};

[[nodiscard]] std::string_view to_string(ProxyFamily family) noexcept;

/// An IPv4 or IPv6 address and a port, in host order for the port. For tcp4
/// the address is bytes[0..3]; for tcp6 all 16 bytes, in network order.
struct ProxyAddress {
  std::array<std::uint8_t, 16> bytes{};
  std::uint16_t port = 0;
  friend bool operator==(const ProxyAddress&, const ProxyAddress&) = default;
};

struct ProxyHeader {
  std::uint8_t version = 0;  ///< 1 or 2 once done.
  ProxyCommand command = ProxyCommand::proxy;
  ProxyFamily family = ProxyFamily::unknown;
  ProxyAddress source{};
  ProxyAddress destination{};
  /// True when source and destination hold the client's addresses (PROXY
  /// with tcp4 or tcp6); otherwise the connection's own endpoints stand.
  [[nodiscard]] bool has_addresses() const noexcept {
    return command == ProxyCommand::proxy &&
           (family == ProxyFamily::tcp4 || family == ProxyFamily::tcp6);
  }
  friend bool operator==(const ProxyHeader&, const ProxyHeader&) = default;
};

class ProxyParser {
 public:
  /// `v2_max` is the largest v2 length field accepted (at most 65,535).
  explicit constexpr ProxyParser(std::uint16_t v2_max = kDefaultProxyV2Max) noexcept
      : v2_max_(v2_max) {}

  /// Consumes header bytes from `input`, never a byte past the header.
  /// - need_more: all of `input` was consumed.
  /// - done: `consumed` bytes completed the header; the rest of `input` is
  ///   the frame stream's. Every later call returns done with consumed == 0.
  /// - error: `consumed` bytes up to and including the offending one were
  ///   consumed; every later call returns error with consumed == 0 until
  ///   reset().
  /// An empty `input` returns the current status with consumed == 0.
  [[nodiscard]] ProxyResult feed(std::span<const std::byte> input) noexcept;

  /// Declares the end of the stream: returns truncated (now sticky, at
  /// offset()) if a header was begun and not finished, the error already
  /// present if any, else none. With no byte consumed it returns none: a
  /// peer that connects and closes sent no header at all.
  ProxyError finish() noexcept;

  /// Forgets everything, including a sticky error; keeps the v2 limit.
  void reset() noexcept { *this = ProxyParser(v2_max_); }

  [[nodiscard]] bool done() const noexcept { return stage_ == Stage::done; }
  [[nodiscard]] ProxyError error() const noexcept { return error_; }
  /// Bytes consumed since construction or reset() at which error() was
  /// detected (the offending byte included); 0 when there is no error.
  [[nodiscard]] std::size_t error_offset() const noexcept { return error_offset_; }
  /// Bytes consumed since construction or reset().
  [[nodiscard]] std::size_t offset() const noexcept { return offset_; }
  /// The header, valid once done().
  [[nodiscard]] const ProxyHeader& header() const noexcept { return header_; }
  [[nodiscard]] std::uint16_t v2_max() const noexcept { return v2_max_; }

 private:
  enum class Stage : std::uint8_t {
    start,     ///< Nothing consumed yet.
    v1,        ///< Collecting the v1 line into buf_.
    v2_fixed,  ///< Collecting the 16-byte v2 header into buf_.
    v2_addr,   ///< Collecting the address block (INET, INET6) into buf_.
    v2_skip,   ///< Skipping bytes that are not interpreted (UNIX block, LOCAL).
    v2_tlv,    ///< Collecting a 3-byte TLV header into tlv_.
    v2_value,  ///< Skipping a TLV's value.
    done,
    error,
  };

  ProxyResult fail(ProxyError e, std::size_t consumed) noexcept;
  /// Parses the complete v1 line in buf_[0..have_).
  ProxyError parse_v1() noexcept;
  /// Called once the 16th v2 byte is in: validates and picks the next stage.
  ProxyError start_v2_body() noexcept;
  void finish_v2_addresses() noexcept;
  /// Moves to the next TLV, or to done at the end of the header.
  void next_tlv() noexcept;

  std::size_t offset_ = 0;
  std::size_t error_offset_ = 0;
  std::uint16_t v2_max_;
  std::uint16_t v2_left_ = 0;  ///< Header bytes still due after the 16 fixed.
  std::uint16_t skip_ = 0;     ///< Bytes still to skip in v2_skip / v2_value.
  std::uint8_t have_ = 0;      ///< Bytes held in buf_ (or tlv_).
  std::uint8_t need_ = 0;      ///< Bytes wanted in buf_ for this stage.
  Stage stage_ = Stage::start;
  ProxyError error_ = ProxyError::none;
  ProxyHeader header_{};
  std::byte buf_[kProxyV1MaxLine]{};  ///< The v1 line, or v2's 16 + 36 bytes.
  std::byte tlv_[3]{};
};

}  // namespace framed
