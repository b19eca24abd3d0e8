// framed-kv's data: one store shared by every worker (a mutex around a
// map), values with an optional expiry, and the connections waiting for a
// key to be set. Time is passed in, never read here, so the rules are
// tested with any clock.
#pragma once

#include <framed/server.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace kv {

using Clock = std::chrono::steady_clock;

class Store {
 public:
  // A connection waiting for a key, and which of its waits this is (a
  // connection waits again once answered; an answer must reach the wait
  // it was meant for).
  struct Waiter {
    framed::ConnectionHandle who;
    std::uint64_t wait = 0;
  };

  // Sets `key` to `value`, expiring `ttl` after `now` (zero: never).
  // Returns the connections that were waiting for the key (now not).
  std::vector<Waiter> set(const std::string& key, std::string value, std::chrono::milliseconds ttl,
                          Clock::time_point now);
  // The value, unless absent or expired at `now`.
  std::optional<std::string> get(const std::string& key, Clock::time_point now);
  // Removes `key`; false if it was absent (or expired).
  bool erase(const std::string& key, Clock::time_point now);
  // Removes what has expired at `now`. Returns how many.
  std::size_t expire(Clock::time_point now);
  // Keys held now, expired ones included until expire() or a read.
  [[nodiscard]] std::size_t size();

  // The value if present; otherwise `who` now waits for `key` to be set
  // (set() returns it once). One step, so no set can fall in between.
  std::optional<std::string> get_or_wait(const std::string& key, Waiter who, Clock::time_point now);
  void remove_waiter(const std::string& key, framed::ConnectionHandle who);

 private:
  struct Entry {
    std::string value;
    Clock::time_point expires = Clock::time_point::max();
  };
  std::mutex mutex_;
  std::map<std::string, Entry> data_;
  std::multimap<std::string, Waiter> waiters_;
};

}  // namespace kv
