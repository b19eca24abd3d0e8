/// @file
/// Incremental decoder for the framed wire format (spec/PROTOCOL.md).
///
/// A Decoder is a small value the caller owns. It keeps a handful of integers
/// and at most three bytes of a partial header; payload bytes are never copied.
/// Each feed() call reports at most one event and returns views into the
/// caller's buffer, so a frame of any size streams through without the decoder
/// holding it. The decoder never allocates, never throws and never reads
/// outside the span it is given. It includes no socket header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "framed/encoder.h"

namespace framed {

/// The largest frame the server accepts unless told otherwise (16 MiB).
inline constexpr std::uint32_t kDefaultMaxFrame = 16U * 1024U * 1024U;

/// Decoder errors. The numeric values are part of the spec and never change.
enum class DecodeError : std::uint8_t {
  none = 0,
  /// The header announced a length above the decoder's limit. Reported when
  /// the 4th header byte is consumed, before any payload.
  frame_too_large = 1,
  /// finish() was called with 1 to 3 bytes of a header consumed.
  truncated_header = 2,
  /// finish() was called with a header complete but payload bytes missing.
  truncated_payload = 3,
};

/// Returns the spec name of `error` ("frame_too_large", ...), or "unknown" for
/// a value outside the enumeration. The returned view is static.
[[nodiscard]] std::string_view to_string(DecodeError error) noexcept;

enum class DecodeStatus : std::uint8_t {
  /// Every input byte was consumed and there is nothing to report yet.
  need_more = 0,
  /// `payload` holds the next bytes of the current frame (possibly none, for a
  /// zero-length frame). `frame_end` says whether this chunk completes it.
  chunk = 1,
  /// The stream is in error; see Decoder::error() and error_offset().
  error = 2,
};

/// What one feed() call reports.
struct DecodeResult {
  DecodeStatus status = DecodeStatus::need_more;
  /// Input bytes consumed by this call: always <= input.size(). The caller
  /// passes the rest of its input to the next call.
  std::size_t consumed = 0;
  /// For `chunk`: a view into the caller's input, valid as long as that buffer.
  std::span<const std::byte> payload{};
  /// For `chunk`: the full payload length announced by the frame's header.
  std::uint32_t frame_length = 0;
  /// For `chunk`: the position of payload[0] within the frame's payload.
  /// Zero means this is the frame's first chunk.
  std::uint32_t chunk_offset = 0;
  /// For `chunk`: true when this chunk holds the frame's last payload byte.
  bool frame_end = false;
};

class Decoder {
 public:
  /// `max_frame` is the largest legal payload length; any uint32 value is
  /// allowed, so 4 GiB - 1 accepts every frame.
  explicit constexpr Decoder(std::uint32_t max_frame = kDefaultMaxFrame) noexcept
      : max_frame_(max_frame) {}

  /// Consumes bytes from `input` up to the next event and reports it.
  /// - need_more: all of `input` was consumed (header bytes are buffered).
  /// - chunk: `consumed` bytes were used; the unconsumed rest must be fed again.
  /// - error: the error is sticky; every later call returns error with
  ///   consumed == 0 until reset().
  /// An empty `input` returns need_more with consumed == 0. A zero-length
  /// frame is reported (as an empty chunk with frame_end) by the call that
  /// consumes its 4th header byte.
  [[nodiscard]] DecodeResult feed(std::span<const std::byte> input) noexcept;

  /// Declares the end of the stream. Returns none when the stream ended on a
  /// frame boundary; otherwise truncated_header or truncated_payload, which
  /// becomes the sticky error with error_offset() == offset(). An error already
  /// present is returned unchanged.
  DecodeError finish() noexcept;

  /// Forgets all state, including a sticky error; keeps the limit.
  void reset() noexcept { *this = Decoder(max_frame_); }

  [[nodiscard]] DecodeError error() const noexcept { return error_; }
  /// The stream offset (count of bytes consumed since construction or reset())
  /// at which error() was detected; 0 when there is no error.
  [[nodiscard]] std::uint64_t error_offset() const noexcept { return error_offset_; }
  /// Bytes consumed since construction or reset().
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  /// The length from the most recent complete header, including the one that
  /// caused frame_too_large (its four bytes are this value in big-endian).
  [[nodiscard]] std::uint32_t frame_length() const noexcept { return length_; }
  /// True when at least one byte of a frame was consumed but not all of it.
  [[nodiscard]] bool in_frame() const noexcept { return have_ != 0 && error_ == DecodeError::none; }
  [[nodiscard]] std::uint32_t max_frame() const noexcept { return max_frame_; }
  /// True when the current frame's header is complete and within the limit
  /// and payload bytes are still due (the header has been validated).
  [[nodiscard]] bool in_payload() const noexcept {
    return have_ == kHeaderSize && error_ == DecodeError::none;
  }
  /// Payload bytes still due for the current frame; 0 outside a payload.
  [[nodiscard]] std::uint32_t payload_remaining() const noexcept {
    return in_payload() ? remaining_ : 0;
  }
  /// The 1 to 3 bytes of a header begun but not complete, held by the decoder
  /// (a view of its own storage, valid until the next feed() or reset());
  /// empty in every other state.
  [[nodiscard]] std::span<const std::byte> partial_header() const noexcept {
    if (error_ != DecodeError::none || have_ >= kHeaderSize) return {};
    return {header_, have_};
  }

 private:
  std::uint64_t offset_ = 0;
  std::uint64_t error_offset_ = 0;
  std::uint32_t max_frame_;
  std::uint32_t length_ = 0;
  std::uint32_t remaining_ = 0;  ///< Payload bytes still due when have_ == 4.
  /// Header bytes consumed for the current frame: 0..3 while reading the
  /// header, 4 while reading its payload.
  std::uint8_t have_ = 0;
  DecodeError error_ = DecodeError::none;
  std::byte header_[kHeaderSize]{};
};

}  // namespace framed
