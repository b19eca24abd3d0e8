#include "sim/oracle.h"

#include <algorithm>

#include "framed/encoder.h"

namespace framed::sim {
namespace {

std::uint32_t length_at(std::span<const std::byte> frames, std::size_t pos) {
  return (std::to_integer<std::uint32_t>(frames[pos]) << 24U) |
         (std::to_integer<std::uint32_t>(frames[pos + 1]) << 16U) |
         (std::to_integer<std::uint32_t>(frames[pos + 2]) << 8U) |
         std::to_integer<std::uint32_t>(frames[pos + 3]);
}

}  // namespace

std::size_t oversize_at(std::span<const std::byte> frames, std::uint32_t max_frame) {
  std::size_t pos = 0;
  while (pos + kHeaderSize <= frames.size()) {
    const std::uint32_t length = length_at(frames, pos);
    if (length > max_frame) return pos;
    pos += kHeaderSize + length;
  }
  return SIZE_MAX;
}

std::size_t last_frame_end(std::span<const std::byte> frames, std::size_t x) {
  x = std::min(x, frames.size());
  std::size_t pos = 0;
  while (pos + kHeaderSize <= x) {
    const std::size_t end = pos + kHeaderSize + length_at(frames, pos);
    if (end > x) break;
    pos = end;
  }
  return pos;
}

std::size_t held_header_cut(std::span<const std::byte> frames, std::size_t x) {
  x = std::min(x, frames.size());
  std::size_t pos = 0;
  while (pos < x) {
    if (x - pos < kHeaderSize) return pos;  // 1 to 3 header bytes: held back.
    const std::size_t end = pos + kHeaderSize + length_at(frames, pos);
    if (end > x) return x;  // A validated header, payload streaming.
    pos = end;
  }
  return x;
}

std::vector<std::byte> owed(std::span<const std::byte> frames, std::size_t consumed, bool at_eof,
                            Service service, std::uint32_t max_frame,
                            std::span<const std::byte> reply) {
  std::size_t x = std::min(consumed, frames.size());
  x = std::min(x, oversize_at(frames, max_frame));
  std::vector<std::byte> out;
  switch (service) {
    case Service::echo_chunks: {
      const std::size_t end = at_eof ? x : held_header_cut(frames, x);
      out.assign(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(end));
      break;
    }
    case Service::echo_frames: {
      const std::size_t end = last_frame_end(frames, x);
      out.assign(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(end));
      break;
    }
    case Service::big_reply: {
      std::size_t n = 0;
      const std::size_t end = last_frame_end(frames, x);
      for (std::size_t pos = 0; pos < end; ++n) pos += kHeaderSize + length_at(frames, pos);
      for (; n > 0; --n) (void)append_frame(out, reply);
      break;
    }
  }
  return out;
}

}  // namespace framed::sim
