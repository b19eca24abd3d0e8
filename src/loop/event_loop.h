// One worker's event loop. Each turn it runs the tasks posted to it, waits
// for I/O no longer than its earliest timer, lets the I/O side act on what
// it found, and runs the timers that are due. It knows nothing of frames
// or connections: I/O comes through an Io (a transport), time through a
// Clock, and everything else is a timer callback or a posted task.
//
// Loop time (now()) is read from the clock once before and once after each
// wait, as libuv's uv_now() is: every event of a turn sees the same time,
// and code under test sees exactly the time its ManualClock says.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include "loop/clock.h"
#include "loop/timer_queue.h"
#include "net/socket.h"

namespace framed::loop {

// The I/O side a loop waits on (a transport). Used from the loop's thread
// only, except wake().
class Io {
 public:
  virtual ~Io() = default;
  // Waits up to `timeout_ms` (-1: no limit; 0: do not block) for I/O and
  // keeps what it found for dispatch(). An implementation may wait less
  // (when it has work of its own to do at once). Returns the failing call,
  // if any; the loop cannot go on after one.
  virtual net::SysError poll(int timeout_ms) = 0;
  // Acts on what the last poll() found (calling its owner's handlers).
  virtual void dispatch() = 0;
  // Makes a poll() in progress (or the next one) return soon. Safe from any
  // thread and from a signal handler's thread.
  virtual void wake() noexcept = 0;

  // What dispatch() calls between one socket's events and the next (the
  // loop runs tasks posted meanwhile, so a busy turn does not hold them).
  void set_between(std::function<void()> f) { between_ = std::move(f); }

 protected:
  void between() {
    if (between_) between_();
  }

 private:
  std::function<void()> between_;
};

class EventLoop {
 public:
  // Neither `clock` nor `io` is owned; both must outlive the loop.
  EventLoop(Clock& clock, Io& io);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Loop time: the clock's reading at the last update (see above).
  [[nodiscard]] TimePoint now() const noexcept { return now_; }
  // Reads the clock into now() and returns it.
  TimePoint update_time() noexcept { return now_ = clock_.now(); }
  [[nodiscard]] Clock& clock() const noexcept { return clock_; }
  [[nodiscard]] TimerQueue& timers() noexcept { return timers_; }

  // Queues `task` to run on the loop's thread at the start of a turn, and
  // wakes the loop. Safe from any thread. Tasks run in the order posted.
  void post(std::function<void()> task);

  // Runs the tasks posted so far, now (the loop's thread): at its end, so
  // that what was posted before it stopped still runs.
  void run_pending() { run_posted(); }
  // Destroys the loop; the Io no longer calls it.
  ~EventLoop();

  // One turn: posted tasks, the wait, the I/O, the due timers. Returns the
  // failing call of the wait, if any.
  net::SysError run_once();

  // The wait's timeout for a turn starting at now(): until the earliest
  // timer (rounded up to a millisecond, so the loop never wakes a hair
  // early and spins), 0 with tasks queued, at most 60 s, -1 with nothing
  // to wait for.
  [[nodiscard]] int wait_timeout() const noexcept;

  // Nanoseconds the loop has spent not waiting (handling I/O, timers and
  // tasks), in loop time. Any thread (only the loop's writes it).
  [[nodiscard]] std::uint64_t busy_ns() const noexcept {
    return busy_ns_.load(std::memory_order_relaxed);
  }

 private:
  void run_posted();

  Clock& clock_;
  Io& io_;
  TimerQueue timers_;
  TimePoint now_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::function<void()>> running_;  // Swapped with posted_.
  std::atomic<bool> has_posted_{false};
  TimePoint woke_{};  // When the last wait returned.
  std::atomic<std::uint64_t> busy_ns_{0};
};

}  // namespace framed::loop
