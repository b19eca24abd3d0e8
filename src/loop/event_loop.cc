#include "loop/event_loop.h"

#include <algorithm>

namespace framed::loop {

EventLoop::EventLoop(Clock& clock, Io& io) : clock_(clock), io_(io), now_(clock.now()) {
  // A turn with many ready sockets takes long (each event may cost
  // microseconds): tasks posted meanwhile run between two sockets' events
  // instead of at the next turn, so post() reaches the loop within about
  // one event's time under load, not one turn's. An atomic load per event
  // when none is posted.
  io_.set_between([this] {
    if (has_posted_.load(std::memory_order_acquire)) run_posted();
  });
}

EventLoop::~EventLoop() { io_.set_between(nullptr); }

void EventLoop::post(std::function<void()> task) {
  {
    const std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(task));
    has_posted_.store(true, std::memory_order_release);
  }
  io_.wake();
}

void EventLoop::run_posted() {
  if (!has_posted_.load(std::memory_order_acquire)) return;
  {
    const std::lock_guard<std::mutex> lock(posted_mutex_);
    running_.swap(posted_);
    has_posted_.store(false, std::memory_order_relaxed);
  }
  // A task may post more; those run next turn (the wait will not block).
  for (auto& task : running_) task();
  running_.clear();
}

int EventLoop::wait_timeout() const noexcept {
  if (has_posted_.load(std::memory_order_acquire)) return 0;
  const TimePoint next = timers_.next();
  if (next == TimePoint::max()) return -1;
  if (next <= now_) return 0;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now_).count();
  return static_cast<int>(std::min<std::int64_t>(wait, 60'000));
}

net::SysError EventLoop::run_once() {
  // Busy time: from the end of a wait to the start of the next turn (the
  // I/O, the timers, and what the last turn's tasks did), read from the
  // two clock readings a turn takes anyway.
  const TimePoint start = update_time();
  if (woke_ != TimePoint{} && start > woke_) {
    busy_ns_.store(
        busy_ns_.load(std::memory_order_relaxed) +
            static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(start - woke_).count()),
        std::memory_order_relaxed);
  }
  run_posted();
  if (const auto e = io_.poll(wait_timeout()); !e.ok()) return e;
  woke_ = update_time();
  io_.dispatch();
  timers_.run_due(now_);
  return {};
}

}  // namespace framed::loop
