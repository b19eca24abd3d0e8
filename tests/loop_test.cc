// The loop's pieces on a manual clock: timers fire in deadline order, at
// their deadline and never before, however they were moved; posted tasks
// run on the loop's turn, from any thread.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "loop/clock.h"
#include "loop/event_loop.h"
#include "loop/timer_queue.h"

namespace framed::loop {
namespace {

using std::chrono::milliseconds;

TEST(ManualClock, MovesOnlyForwardAndOnlyWhenTold) {
  ManualClock clock;
  const TimePoint t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(milliseconds(5));
  EXPECT_EQ(clock.now(), t0 + milliseconds(5));
  clock.advance(-milliseconds(3));
  EXPECT_EQ(clock.now(), t0 + milliseconds(5));
  clock.advance_to(t0);
  EXPECT_EQ(clock.now(), t0 + milliseconds(5));
}

TEST(TimerQueue, FiresInDeadlineOrderAtTheDeadlineAndNotBefore) {
  TimerQueue q;
  std::vector<std::string> fired;
  const TimePoint t0{std::chrono::hours(1)};
  const auto a = q.add([&] { fired.push_back("a"); });
  const auto b = q.add([&] { fired.push_back("b"); });
  const auto c = q.add([&] { fired.push_back("c"); });
  q.schedule(a, t0 + milliseconds(30));
  q.schedule(b, t0 + milliseconds(10));
  q.schedule(c, t0 + milliseconds(20));
  EXPECT_EQ(q.next(), t0 + milliseconds(10));
  q.run_due(t0 + milliseconds(9));
  EXPECT_TRUE(fired.empty());
  q.run_due(t0 + milliseconds(20));
  EXPECT_EQ(fired, (std::vector<std::string>{"b", "c"}));
  q.run_due(t0 + milliseconds(100));
  EXPECT_EQ(fired, (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_EQ(q.armed(), 0U);
  q.run_due(t0 + milliseconds(200));  // A timer fires once per schedule.
  EXPECT_EQ(fired.size(), 3U);
}

TEST(TimerQueue, ADeadlineMovedLaterFiresOnlyAtTheLaterTime) {
  TimerQueue q;
  int fired = 0;
  const TimePoint t0{std::chrono::hours(1)};
  const auto id = q.add([&] { ++fired; });
  q.schedule(id, t0 + milliseconds(10));
  q.schedule(id, t0 + milliseconds(50));  // Lazy: the old entry stays queued.
  q.run_due(t0 + milliseconds(10));
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(q.deadline(id), t0 + milliseconds(50));
  EXPECT_EQ(q.next(), t0 + milliseconds(50));  // Re-queued, silently.
  q.run_due(t0 + milliseconds(49));
  EXPECT_EQ(fired, 0);
  q.run_due(t0 + milliseconds(50));
  EXPECT_EQ(fired, 1);
}

TEST(TimerQueue, ADeadlineMovedEarlierFiresAtTheEarlierTimeOnce) {
  TimerQueue q;
  int fired = 0;
  const TimePoint t0{std::chrono::hours(1)};
  const auto id = q.add([&] { ++fired; });
  q.schedule(id, t0 + milliseconds(50));
  q.schedule(id, t0 + milliseconds(10));
  EXPECT_EQ(q.next(), t0 + milliseconds(10));
  q.run_due(t0 + milliseconds(10));
  EXPECT_EQ(fired, 1);
  q.run_due(t0 + milliseconds(100));  // The older entry is stale.
  EXPECT_EQ(fired, 1);
}

TEST(TimerQueue, CancelledAndRemovedTimersNeverFire) {
  TimerQueue q;
  int fired = 0;
  const TimePoint t0{std::chrono::hours(1)};
  const auto a = q.add([&] { ++fired; });
  const auto b = q.add([&] { ++fired; });
  q.schedule(a, t0 + milliseconds(10));
  q.schedule(b, t0 + milliseconds(10));
  q.cancel(a);
  q.remove(b);
  EXPECT_EQ(q.armed(), 0U);
  q.run_due(t0 + milliseconds(10));
  EXPECT_EQ(fired, 0);
  // A removed id refers to nothing, even once its slot is reused.
  const auto c = q.add([&] { fired += 10; });
  q.schedule(b, t0 + milliseconds(20));
  EXPECT_EQ(q.deadline(c), TimePoint::max());
  q.run_due(t0 + milliseconds(30));
  EXPECT_EQ(fired, 0);
  q.schedule(a, t0 + milliseconds(40));  // Cancelled is still valid.
  q.run_due(t0 + milliseconds(40));
  EXPECT_EQ(fired, 1);
}

TEST(TimerQueue, ACallbackMayRescheduleOrRemoveItself) {
  TimerQueue q;
  const TimePoint t0{std::chrono::hours(1)};
  int ticks = 0;
  TimerQueue::Id every;
  every = q.add([&] {
    ++ticks;
    q.schedule(every, t0 + milliseconds(10 * (ticks + 1)));
  });
  q.schedule(every, t0 + milliseconds(10));
  TimerQueue::Id once;
  int once_fired = 0;
  once = q.add([&] {
    ++once_fired;
    q.remove(once);
  });
  q.schedule(once, t0 + milliseconds(15));
  for (int ms = 0; ms <= 50; ms += 5) q.run_due(t0 + milliseconds(ms));
  EXPECT_EQ(ticks, 5);
  EXPECT_EQ(once_fired, 1);
  // A callback that re-arms itself for a time already due cannot spin.
  TimerQueue::Id spin;
  int spins = 0;
  spin = q.add([&] {
    ++spins;
    q.schedule(spin, t0);
  });
  q.schedule(spin, t0);
  q.run_due(t0 + milliseconds(60));
  EXPECT_LE(spins, 3);
}

// An Io that never has I/O: each poll records the timeout it was given.
class IdleIo final : public Io {
 public:
  net::SysError poll(int timeout_ms) override {
    timeouts.push_back(timeout_ms);
    return {};
  }
  void dispatch() override {}
  void wake() noexcept override { woken.fetch_add(1); }
  std::vector<int> timeouts;
  std::atomic<int> woken{0};
};

TEST(EventLoop, WaitsUntilTheEarliestTimerRoundedUpAndRunsItOnTime) {
  ManualClock clock;
  IdleIo io;
  EventLoop loop(clock, io);
  int fired = 0;
  const auto id = loop.timers().add([&] { ++fired; });
  loop.timers().schedule(id, clock.now() + std::chrono::microseconds(2500));
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(io.timeouts.back(), 3);  // 2.5 ms rounds up: never a hair early.
  EXPECT_EQ(fired, 0);
  clock.advance(std::chrono::microseconds(2500));
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(io.timeouts.back(), 0);  // Due already: no wait.
  EXPECT_EQ(fired, 1);
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(io.timeouts.back(), -1);  // Nothing to wait for.
}

TEST(EventLoop, PostedTasksRunOnTheLoopsTurnInOrderFromAnyThread) {
  ManualClock clock;
  IdleIo io;
  EventLoop loop(clock, io);
  std::vector<int> ran;
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) loop.post([&ran, i] { ran.push_back(i); });
  });
  other.join();
  EXPECT_GE(io.woken.load(), 1);
  EXPECT_EQ(loop.wait_timeout(), 0);  // Tasks are due: the wait must not block.
  ASSERT_TRUE(loop.run_once().ok());
  ASSERT_EQ(ran.size(), 100U);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[static_cast<std::size_t>(i)], i);
}

// A busy turn: the Io has many sockets' events to dispatch. A task posted
// while it does runs between two sockets' events, not after the whole turn
// (under load a turn lasts milliseconds; a post must not wait for it).
class BusyIo final : public Io {
 public:
  net::SysError poll(int) override { return {}; }
  void dispatch() override {
    for (int i = 0; i < 100; ++i) {
      if (i == 10) post_now();  // "Another thread" posts as event 10 is done.
      events.push_back(i);
      between();
    }
  }
  void wake() noexcept override {}
  std::function<void()> post_now;
  std::vector<int> events;
};

TEST(EventLoop, ATaskPostedDuringABusyTurnRunsBetweenTwoEvents) {
  ManualClock clock;
  BusyIo io;
  EventLoop loop(clock, io);
  std::size_t ran_after = 0;
  io.post_now = [&] { loop.post([&] { ran_after = io.events.size(); }); };
  ASSERT_TRUE(loop.run_once().ok());
  EXPECT_EQ(ran_after, 11U) << "right after the event during which it was posted";
}

}  // namespace
}  // namespace framed::loop
