#include "framed/decoder.h"

#include <algorithm>

#include "framed/endian.h"

namespace framed {

std::string_view to_string(DecodeError error) noexcept {
  switch (error) {
    case DecodeError::none: return "none";
    case DecodeError::frame_too_large: return "frame_too_large";
    case DecodeError::truncated_header: return "truncated_header";
    case DecodeError::truncated_payload: return "truncated_payload";
  }
  return "unknown";
}

DecodeResult Decoder::feed(std::span<const std::byte> input) noexcept {
  DecodeResult result;
  if (error_ != DecodeError::none) {
    result.status = DecodeStatus::error;
    return result;
  }
  const std::size_t size = input.size();
  std::size_t pos = 0;

  if (have_ < kHeaderSize) {
    std::uint32_t length = 0;
    if (have_ == 0 && size >= kHeaderSize) {
      // Fast path: the whole header is in this buffer, nothing to copy.
      length = load_be32(input.data());
      pos = kHeaderSize;
    } else {
      // Slow path: gather the header across calls. At most 3 bytes are kept.
      const std::size_t take = std::min<std::size_t>(kHeaderSize - have_, size);
      std::copy_n(input.data(), take, header_ + have_);
      have_ = static_cast<std::uint8_t>(have_ + take);
      pos = take;
      if (have_ < kHeaderSize) {
        offset_ += pos;
        result.consumed = pos;
        return result;
      }
      length = load_be32(header_);
    }
    have_ = kHeaderSize;
    length_ = length;
    // The limit is checked before any payload is looked at, so an
    // attacker-chosen length never sizes anything.
    if (length > max_frame_) {
      offset_ += pos;
      error_ = DecodeError::frame_too_large;
      error_offset_ = offset_;
      result.status = DecodeStatus::error;
      result.consumed = pos;
      return result;
    }
    remaining_ = length;
  }

  // Payload: hand out as much of the frame as this buffer holds.
  const std::size_t take = std::min<std::size_t>(remaining_, size - pos);
  result.status = DecodeStatus::chunk;
  result.payload = input.subspan(pos, take);
  result.frame_length = length_;
  result.chunk_offset = length_ - remaining_;
  remaining_ -= static_cast<std::uint32_t>(take);
  pos += take;
  if (remaining_ == 0) {
    result.frame_end = true;
    have_ = 0;
  } else if (take == 0) {
    // Nothing of the payload was here; an empty chunk in mid-frame tells the
    // caller nothing, so report need_more instead.
    result.status = DecodeStatus::need_more;
    result.payload = {};
  }
  offset_ += pos;
  result.consumed = pos;
  return result;
}

DecodeError Decoder::finish() noexcept {
  if (error_ == DecodeError::none && have_ != 0) {
    error_ = have_ < kHeaderSize ? DecodeError::truncated_header : DecodeError::truncated_payload;
    error_offset_ = offset_;
  }
  return error_;
}

}  // namespace framed
