// The bytes a connection owes its peer, in order: the backlog the socket
// has not taken yet, and a decoder following everything written so that a
// frame counts as sent only once its last byte is (spec §6.9).
//
// A readiness transport writes from pending() and drops what the socket
// took with mark_written(). A completion transport, whose send reads the
// bytes after the call returns, pins them first: pinned bytes never move,
// and bytes queued meanwhile wait in a second buffer until mark_written()
// ends the send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "framed/decoder.h"

namespace framed::transport {

class Outbox {
 public:
  Outbox() noexcept : written_(0xFFFFFFFFU) {}

  // Appends a copy of `bytes` to the backlog (behind the pinned bytes, if
  // any; they never move).
  void queue(std::span<const std::byte> bytes);
  // The backlog not yet written, oldest first, valid until the next queue()
  // or mark_written(). While pinned, exactly the pinned bytes.
  [[nodiscard]] std::span<const std::byte> pending() const noexcept {
    return {out_.data() + head_, out_.size() - head_};
  }
  // Every byte not yet written, pinned or not: what backpressure and the
  // closing rules count.
  [[nodiscard]] std::size_t size() const noexcept { return out_.size() - head_ + more_.size(); }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  // The first `n` bytes of pending() were written: counts them and drops
  // them, and unpins. Returns how many frames that completed.
  std::uint64_t mark_written(std::size_t n);
  // `bytes`, the next bytes of the output stream, were written from
  // somewhere else (the read buffer, straight): counts them. Returns how
  // many frames that completed. Only while the backlog is empty, so that
  // the stream stays in order.
  std::uint64_t note_written(std::span<const std::byte> bytes) noexcept;

  // The bytes are not the frame stream (a TLS layer queues records):
  // note_written() and mark_written() count no frames from here on; the
  // layer counts them itself.
  void set_opaque() noexcept { opaque_ = true; }

  // Returns the backlog's oldest bytes (empty if none) and keeps them where
  // they are until mark_written(). At most one pin at a time.
  [[nodiscard]] std::span<const std::byte> pin() noexcept;
  [[nodiscard]] bool pinned() const noexcept { return pinned_; }

 private:
  Decoder written_;  // Follows the output stream; its limit is the maximum.
  std::vector<std::byte> out_;
  std::size_t head_ = 0;  // out_[0, head_) is already written.
  bool pinned_ = false;
  bool opaque_ = false;
  std::vector<std::byte> more_;  // Queued while pinned; follows out_.
};

}  // namespace framed::transport
