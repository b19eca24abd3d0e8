// Event counts of one worker. Only the owning worker writes (so a relaxed
// load and store is enough, and no locked instruction is spent on the
// per-frame path); any thread may read them for a report.
#pragma once

#include <atomic>
#include <cstdint>

namespace framed::core {

struct Counters {
  std::atomic<std::uint64_t> accepted{0};
  // Over --max-conns, shed on EMFILE, or outside --proxy-from.
  std::atomic<std::uint64_t> refused{0};
  // Over --max-conns-per-ip (also counted in `refused`; a client behind a
  // PROXY header is refused after its header, so also counted in `accepted`).
  std::atomic<std::uint64_t> refused_per_ip{0};
  std::atomic<std::uint64_t> timed_out{0};        // Idle, frame or PROXY header timeout.
  std::atomic<std::uint64_t> protocol_errors{0};  // Oversize length, bad PROXY header.
  std::atomic<std::uint64_t> frames_echoed{0};    // Frames whose last byte was written.
  std::atomic<std::uint64_t> bytes_echoed{0};     // Bytes written to sockets.
  std::atomic<std::uint64_t> open{0};             // Connections open now.
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
