// Time as a parameter. Code that decides anything by time (timeouts, the
// drain, accept pauses) reads it from a Clock it is given, never from the
// system: production passes the monotonic clock, unit tests and the
// simulator a ManualClock they move by hand (as FoundationDB's simulator and
// tokio's paused clock do), so a timing rule is tested in microseconds and
// the same way every time.
#pragma once

#include <chrono>

namespace framed::loop {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  // The current time. Never goes backwards.
  [[nodiscard]] virtual TimePoint now() const noexcept = 0;
};

// The monotonic clock (CLOCK_MONOTONIC through std::chrono::steady_clock).
class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const noexcept override { return std::chrono::steady_clock::now(); }
};

// The one SystemClock of the process (it has no state; shared by every loop).
SystemClock& system_clock() noexcept;

// A clock that moves only when told. It starts at an arbitrary, fixed
// instant (one hour past the epoch, so that `now() - some duration` never
// underflows in tests), the same on every run.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;
  explicit ManualClock(TimePoint start) : now_(start) {}
  [[nodiscard]] TimePoint now() const noexcept override { return now_; }
  // Moves the clock forward by `d` (a negative `d` is ignored: time never
  // goes backwards).
  void advance(Duration d) noexcept {
    if (d > Duration::zero()) now_ += d;
  }
  // Moves the clock to `t` if that is later than now.
  void advance_to(TimePoint t) noexcept {
    if (t > now_) now_ = t;
  }

 private:
  TimePoint now_{std::chrono::hours(1)};
};

}  // namespace framed::loop
