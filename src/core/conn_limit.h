// The connection limits, one for every worker: the global one
// (--max-conns), exact across workers without a lock (a connection is kept
// only after a slot is reserved), and the per-client one
// (--max-conns-per-ip, core/ip_limit.h).
#pragma once

#include <atomic>
#include <cstddef>

#include "core/ip_limit.h"

namespace framed::core {

class ConnLimit {
 public:
  explicit ConnLimit(std::size_t max, std::size_t max_per_ip = 0)
      : max_(max), per_ip_(max_per_ip) {}

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
  // The per-client limit (off when its max is 0).
  [[nodiscard]] IpLimit& per_ip() noexcept { return per_ip_; }
  [[nodiscard]] const IpLimit& per_ip() const noexcept { return per_ip_; }

 private:
  const std::size_t max_;
  std::atomic<std::size_t> open_{0};
  IpLimit per_ip_;
};

}  // namespace framed::core
