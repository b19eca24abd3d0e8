// The echo logic of one connection, free of sockets: input bytes go through a
// Decoder, and the echo of every frame is described without copying it:
// mostly a view of the input itself, since an echo is the same bytes. Bytes
// the socket cannot take at once are queued in a backlog the session owns.
//
// What is echoed (spec/PROTOCOL.md §6.3): every byte of every frame, as soon
// as it is known to belong to a valid frame. Header bytes are held back only
// until the 4th arrives and the length passes the limit; at end of input,
// end_of_input() releases the 1 to 3 header bytes still held, so the echo
// stops exactly where the input stopped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "framed/decoder.h"

namespace framed::server {

class EchoSession {
 public:
  explicit EchoSession(std::uint32_t max_frame) noexcept
      : decoder_(max_frame), written_(0xFFFFFFFFU) {}

  struct Consumed {
    std::size_t bytes = 0;  // Input bytes used; the rest is unread.
    DecodeError error = DecodeError::none;
    // The echo of what was consumed, in order: `prefix`, then `echo`.
    // `prefix` is a frame header whose bytes began in an earlier input (the
    // decoder holds such partial headers back until they are validated); it
    // views storage owned by the session, valid until the next consume().
    // `echo` views the caller's input. Neither is queued: the caller writes
    // them or passes what the socket would not take to queue().
    std::span<const std::byte> prefix;
    std::span<const std::byte> echo;
  };

  // Decodes `in` and describes the echo of the complete and partial frames
  // it holds, a validated header with no payload yet included. With
  // `stop_at_frame_end`, stops right after the frame in progress ends (used
  // while draining for shutdown). After a decoder error nothing more is
  // consumed; the echo covers only the frames before it.
  Consumed consume(std::span<const std::byte> in, bool stop_at_frame_end);

  // The input ended. Returns the header bytes (1 to 3) of a frame begun but
  // not yet validated, which consume() held back; empty otherwise, and
  // empty after an error. The view is valid until the next consume(). The
  // caller echoes them like any other echo.
  [[nodiscard]] std::span<const std::byte> end_of_input() const noexcept {
    return decoder_.partial_header();
  }

  // Appends bytes to the backlog (copying them).
  void queue(std::span<const std::byte> bytes);

  // The backlog not yet written, oldest first. Valid until the next queue()
  // or mark_written().
  [[nodiscard]] std::span<const std::byte> pending() const noexcept {
    return {out_.data() + head_, out_.size() - head_};
  }
  [[nodiscard]] std::size_t pending_bytes() const noexcept { return out_.size() - head_; }
  // Drops the first `n` backlog bytes (they were written).
  void mark_written(std::size_t n) noexcept;

  // Records that `bytes`, the next bytes of the echo stream, were written to
  // the socket. Returns how many frames that completed: a frame counts as
  // echoed when its last byte has been written, not when it was decoded.
  std::uint64_t note_written(std::span<const std::byte> bytes) noexcept;

  // True when part of a frame has been consumed but not all of it.
  [[nodiscard]] bool in_frame() const noexcept { return decoder_.in_frame(); }
  [[nodiscard]] const Decoder& decoder() const noexcept { return decoder_; }
  // Frames whose last byte has been consumed.
  [[nodiscard]] std::uint64_t frames_done() const noexcept { return frames_; }

 private:
  Decoder decoder_;
  // Follows the echo stream as written: it is a valid frame stream by
  // construction, so this decoder never errs (its limit is the maximum).
  Decoder written_;
  std::array<std::byte, kHeaderSize> prefix_{};
  // The current frame's header is already part of an echo (sent when it was
  // validated, possibly before any payload byte arrived).
  bool header_echoed_ = false;
  std::vector<std::byte> out_;
  std::size_t head_ = 0;  // out_[0, head_) is already written.
  std::uint64_t frames_ = 0;
};

}  // namespace framed::server
