#include "store.h"

#include <algorithm>

namespace kv {

std::vector<Store::Waiter> Store::set(const std::string& key, std::string value,
                                      std::chrono::milliseconds ttl, Clock::time_point now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Entry& e = data_[key];
  e.value = std::move(value);
  e.expires = ttl.count() > 0 ? now + ttl : Clock::time_point::max();
  std::vector<Waiter> woken;
  const auto [first, last] = waiters_.equal_range(key);
  for (auto it = first; it != last; ++it) woken.push_back(it->second);
  waiters_.erase(first, last);
  return woken;
}

std::optional<std::string> Store::get(const std::string& key, Clock::time_point now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = data_.find(key);
  if (it == data_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    data_.erase(it);  // Expired: gone for good, whether or not swept yet.
    return std::nullopt;
  }
  return it->second.value;
}

bool Store::erase(const std::string& key, Clock::time_point now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = data_.find(key);
  if (it == data_.end()) return false;
  const bool live = it->second.expires > now;
  data_.erase(it);
  return live;
}

std::size_t Store::expire(Clock::time_point now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  return std::erase_if(data_, [&](const auto& kv) { return kv.second.expires <= now; });
}

std::size_t Store::size() {
  const std::lock_guard<std::mutex> lock(mutex_);
  return data_.size();
}

std::optional<std::string> Store::get_or_wait(const std::string& key, Waiter who,
                                              Clock::time_point now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = data_.find(key);
  if (it != data_.end() && it->second.expires > now) return it->second.value;
  waiters_.emplace(key, who);
  return std::nullopt;
}

void Store::remove_waiter(const std::string& key, framed::ConnectionHandle who) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto [first, last] = waiters_.equal_range(key);
  for (auto it = first; it != last; ++it) {
    if (it->second.who == who) {
      waiters_.erase(it);
      return;
    }
  }
}

}  // namespace kv
