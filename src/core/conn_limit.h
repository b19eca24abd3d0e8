// The connection limits, one for every worker: the global one
// (--max-conns), exact across workers without a lock (a connection is kept
// only after a slot is reserved), with slots kept back for outbound
// connections (ServerOptions::outbound_reserve), and the per-client one
// (--max-conns-per-ip, core/ip_limit.h).
#pragma once

#include <atomic>
#include <cstddef>

#include "core/ip_limit.h"

namespace framed::core {

class ConnLimit {
 public:
  // At most `max` connections in all; accepted ones at most `max` less
  // `outbound_reserve` (0 when the reserve is not below `max`).
  explicit ConnLimit(std::size_t max, std::size_t max_per_ip = 0, std::size_t outbound_reserve = 0)
      : max_(max),
        max_inbound_(outbound_reserve < max ? max - outbound_reserve : 0),
        per_ip_(max_per_ip) {}

  // Reserves a slot for an accepted connection (`inbound`) or an outbound
  // one. Returns false at the limit: for an accepted one, also when only
  // the outbound reserve is left. Each slot is given back by release()
  // with the same `inbound`.
  bool try_reserve(bool inbound) noexcept {
    if (inbound && !bounded_add(inbound_, max_inbound_)) return false;
    if (bounded_add(open_, max_)) return true;
    // A slot the inbound count took is given back: the total is full.
    if (inbound) inbound_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  void release(bool inbound) noexcept {
    open_.fetch_sub(1, std::memory_order_acq_rel);
    if (inbound) inbound_.fetch_sub(1, std::memory_order_acq_rel);
  }
  [[nodiscard]] std::size_t open() const noexcept { return open_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t max() const noexcept { return max_; }
  // What accepted connections may hold: max() less the outbound reserve.
  [[nodiscard]] std::size_t max_inbound() const noexcept { return max_inbound_; }
  // The per-client limit (off when its max is 0).
  [[nodiscard]] IpLimit& per_ip() noexcept { return per_ip_; }
  [[nodiscard]] const IpLimit& per_ip() const noexcept { return per_ip_; }

 private:
  // Adds one to `count` unless it is at `max` (compare-and-swap: exact
  // across threads without a lock). Returns whether it did.
  static bool bounded_add(std::atomic<std::size_t>& count, std::size_t max) noexcept {
    std::size_t n = count.load(std::memory_order_relaxed);
    do {
      if (n >= max) return false;
    } while (!count.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
    return true;
  }

  const std::size_t max_;
  const std::size_t max_inbound_;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> inbound_{0};  // Of open_, the accepted ones.
  IpLimit per_ip_;
};

}  // namespace framed::core
