// The global connection limit (--max-conns), one for every worker: a
// connection is kept only after a slot is reserved, so the limit is exact
// across workers without a lock.
#pragma once

#include <atomic>
#include <cstddef>

namespace framed::core {

class ConnLimit {
 public:
  explicit ConnLimit(std::size_t max) noexcept : max_(max) {}

  // Reserves a slot (compare-and-swap). Returns false at the limit.
  bool try_reserve() noexcept {
    std::size_t n = open_.load(std::memory_order_relaxed);
    do {
      if (n >= max_) return false;
    } while (!open_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
    return true;
  }
  void release() noexcept { open_.fetch_sub(1, std::memory_order_acq_rel); }
  [[nodiscard]] std::size_t open() const noexcept { return open_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t max() const noexcept { return max_; }

 private:
  const std::size_t max_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace framed::core
