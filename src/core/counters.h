// Event counts of one worker. Only the owning worker writes (so a relaxed
// load and store is enough, and no locked instruction is spent on the
// per-frame path); any thread may read them for a report.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "core/close_reason.h"

namespace framed::core {

// The frame size histogram's upper bounds (bytes): 16, then every power of
// 4 up to 16 MiB; one more bucket holds what is larger.
inline constexpr std::array<double, 11> kFrameSizeBounds = {
    16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216};

// The bucket of a frame of `length` payload bytes (a few instructions: it
// runs once per frame).
constexpr std::size_t frame_size_bucket(std::uint32_t length) noexcept {
  if (length <= 16) return 0;
  const auto k = static_cast<std::size_t>((std::bit_width(length - 1U) - 3) / 2);
  return k < kFrameSizeBounds.size() ? k : kFrameSizeBounds.size();
}

// The reply latency histogram's upper bounds, in seconds: from a frame's
// last byte in (the loop's wake-up that brought it) to its reply's last
// byte written.
inline constexpr std::array<double, 12> kLatencyBounds = {
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

constexpr std::size_t latency_bucket(std::uint64_t ns) noexcept {
  std::size_t i = 0;
  while (i < kLatencyBounds.size() && static_cast<double>(ns) > kLatencyBounds[i] * 1e9) ++i;
  return i;
}

struct Counters {
  std::atomic<std::uint64_t> accepted{0};
  // Over --max-conns, shed on EMFILE, or outside --proxy-from.
  std::atomic<std::uint64_t> refused{0};
  // Of `refused`, by reason: over --max-conns, shed on EMFILE (or while
  // stopping), outside --proxy-from, over --max-conns-per-ip (a client
  // behind a PROXY header is refused after its header, so it is also in
  // `accepted`).
  std::atomic<std::uint64_t> refused_max_conns{0};
  std::atomic<std::uint64_t> refused_shed{0};
  std::atomic<std::uint64_t> refused_proxy{0};
  std::atomic<std::uint64_t> refused_per_ip{0};
  // TLS clients refused by the handshake (no or a bad certificate under
  // mutual TLS, no common version or suite, not TLS at all): also counted
  // in `accepted`, since the refusal comes after the accept.
  std::atomic<std::uint64_t> refused_tls{0};
  std::atomic<std::uint64_t> timed_out{0};        // Idle, frame or PROXY header timeout.
  std::atomic<std::uint64_t> protocol_errors{0};  // Oversize length, bad PROXY header.
  std::atomic<std::uint64_t> frames_echoed{0};    // Frames whose last byte was written.
  std::atomic<std::uint64_t> bytes_echoed{0};     // Bytes written to sockets.
  std::atomic<std::uint64_t> open{0};             // Connections open now.
  // Output owed to this worker's peers (a gauge): each connection adds what
  // its pending output grew or shrank by since it last settled.
  std::atomic<std::uint64_t> pending_bytes{0};
  // Frames received whole (the handler had their last byte), their payload
  // bytes, and how many fell in each size bucket (kFrameSizeBounds).
  std::atomic<std::uint64_t> frames_received{0};
  std::atomic<std::uint64_t> bytes_received{0};  // Read from sockets (after TLS).
  std::atomic<std::uint64_t> payload_bytes_received{0};
  std::array<std::atomic<std::uint64_t>, kFrameSizeBounds.size() + 1> frame_sizes{};
  // Frames replied to (counted at the reply's last byte written), binned by
  // latency (kLatencyBounds), and their latencies' sum in nanoseconds.
  std::array<std::atomic<std::uint64_t>, kLatencyBounds.size() + 1> latency{};
  std::atomic<std::uint64_t> latency_sum_ns{0};
  // Connections closed, by why their close began (CloseReason).
  std::array<std::atomic<std::uint64_t>, kCloseReasons> closed{};
};

// The owner's increment of its own counter: no other thread writes it, so a
// plain load and store suffice (readers see a value at most one step old).
inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void drop(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

}  // namespace framed::core
