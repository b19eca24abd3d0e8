// What the router counts, per backend and per worker: each worker stores
// into its own row only (relaxed stores by the owner, no locked
// instruction per frame), and a scrape sums the rows (ServerOptions::
// metrics_extra, on the metrics endpoint's thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace framed::router {

struct BackendStats {
  std::atomic<std::uint64_t> up{0};         // 1 while this worker sees it up.
  std::atomic<std::uint64_t> in_flight{0};  // Frames sent, replies awaited.
  std::atomic<std::uint64_t> forwarded{0};  // Frames sent to it.
  std::atomic<std::uint64_t> replies{0};    // Replies it brought.
  std::atomic<std::uint64_t> downs{0};      // Times it was marked down.
  std::atomic<std::uint64_t> retried{0};    // Its frames sent again elsewhere.
  std::atomic<std::uint64_t> failed{0};     // Its frames whose client was closed.
};

struct WorkerStats {
  explicit WorkerStats(std::size_t count) : backends(count) {}
  std::vector<BackendStats> backends;
  std::atomic<std::uint64_t> refused_no_backend{0};  // Clients closed: none up.
};

// The owner's increment: a load and a store, no read-modify-write.
inline void bump(std::atomic<std::uint64_t>& a, std::uint64_t by = 1) noexcept {
  a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
inline void set(std::atomic<std::uint64_t>& a, std::uint64_t v) noexcept {
  a.store(v, std::memory_order_relaxed);
}

class Stats {
 public:
  Stats(std::vector<std::string> backend_names, std::size_t workers);
  [[nodiscard]] WorkerStats& worker(std::size_t index) noexcept { return *workers_[index]; }
  // Every family in the text format 0.0.4, summed over the workers. Any
  // thread.
  [[nodiscard]] std::string render() const;

 private:
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<WorkerStats>> workers_;
};

}  // namespace framed::router
