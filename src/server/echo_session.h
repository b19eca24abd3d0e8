// The echo logic of one connection, free of sockets: input bytes go through a
// Decoder and every frame's header and payload are queued for output,
// streaming, so a frame never needs to be held whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "framed/decoder.h"

namespace framed::server {

class EchoSession {
 public:
  explicit EchoSession(std::uint32_t max_frame) noexcept : decoder_(max_frame) {}

  struct Consumed {
    std::size_t bytes = 0;  // Input bytes used; the rest is unread.
    DecodeError error = DecodeError::none;
  };

  // Decodes `in` and queues the echo of what it holds. With
  // `stop_at_frame_end`, stops right after the frame in progress ends (used
  // while draining for shutdown). Returns the bytes used and the decoder's
  // error, if one occurred; after an error nothing more is consumed.
  Consumed consume(std::span<const std::byte> in, bool stop_at_frame_end);

  // The queued output not yet written, oldest first. Valid until the next
  // consume() or mark_written().
  [[nodiscard]] std::span<const std::byte> pending() const noexcept {
    return {out_.data() + head_, out_.size() - head_};
  }
  [[nodiscard]] std::size_t pending_bytes() const noexcept { return out_.size() - head_; }
  // Drops the first `n` pending bytes (they were written).
  void mark_written(std::size_t n) noexcept;

  // True when part of a frame has been consumed but not all of it.
  [[nodiscard]] bool in_frame() const noexcept { return decoder_.in_frame(); }
  [[nodiscard]] const Decoder& decoder() const noexcept { return decoder_; }
  // Frames whose last byte has been queued.
  [[nodiscard]] std::uint64_t frames_queued() const noexcept { return frames_; }

 private:
  Decoder decoder_;
  std::vector<std::byte> out_;
  std::size_t head_ = 0;  // out_[0, head_) is already written.
  std::uint64_t frames_ = 0;
};

}  // namespace framed::server
