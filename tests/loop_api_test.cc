// The handler's loop API on the manual clock: timers (after, every, their
// handles), tasks posted from other threads, connections addressed by
// handle, per-connection context, and calls from the wrong thread refused.
// The real Worker over the simulated transport (sim/rig.h): a timer due in
// 100 ms fires when the test moves the clock 100 ms, not when it sleeps.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "framed/encoder.h"
#include "frames.h"
#include "sim/rig.h"

namespace framed::sim {
namespace {

using std::chrono::milliseconds;

ServerOptions options() {
  ServerOptions o;
  o.log_level = LogLevel::debug;
  return o;
}

// A handler that lets the test reach its loop and its connections.
struct Probe final : Handler {
  Loop* loop = nullptr;
  Connection* last = nullptr;
  std::vector<std::string> events;
  std::function<void(Connection&)> opened;
  void on_open(Connection& c) override {
    last = &c;
    if (opened) opened(c);
  }
  void on_close(Connection& c) override {
    if (last == &c) last = nullptr;
    events.push_back("close");
  }
};

struct Fixture {
  Probe* probe = nullptr;
  std::unique_ptr<Rig> rig;
  explicit Fixture(ServerOptions o = options()) {
    rig = std::make_unique<Rig>(o, nullptr, SimOptions{}, [this](Loop& l) {
      auto h = std::make_unique<Probe>();
      h->loop = &l;
      probe = h.get();
      return h;
    });
  }
  Loop& loop() { return *probe->loop; }
};

TEST(LoopTimers, AfterFiresOnceAtItsDelay) {
  Fixture f;
  int fired = 0;
  Timer t = f.loop().after(milliseconds(100), [&] { ++fired; });
  EXPECT_TRUE(t.active());
  f.rig->advance(milliseconds(99));
  EXPECT_EQ(fired, 0);
  f.rig->advance(milliseconds(1));
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(t.active()) << "an after() timer is done once it fired";
  f.rig->advance(milliseconds(1000));
  EXPECT_EQ(fired, 1);
}

TEST(LoopTimers, CancelDropOrReassignStopsATimer) {
  Fixture f;
  int fired = 0;
  Timer cancelled = f.loop().after(milliseconds(10), [&] { ++fired; });
  cancelled.cancel();
  EXPECT_FALSE(cancelled.active());
  {
    Timer dropped = f.loop().after(milliseconds(10), [&] { ++fired; });
  }
  Timer reassigned = f.loop().after(milliseconds(10), [&] { ++fired; });
  reassigned = f.loop().after(milliseconds(20), [&] { fired += 100; });
  Timer moved_from = f.loop().after(milliseconds(10), [&] { fired += 1000; });
  Timer moved_to = std::move(moved_from);
  EXPECT_FALSE(moved_from.active());  // NOLINT(bugprone-use-after-move): that is the point.
  f.rig->advance(milliseconds(50));
  EXPECT_EQ(fired, 1100) << "only the reassigned and the moved timers ran";
}

TEST(LoopTimers, EveryRunsEachPeriodUntilItCancelsItself) {
  Fixture f;
  int runs = 0;
  Timer t;
  t = f.loop().every(milliseconds(10), [&] {
    if (++runs == 3) t.cancel();
  });
  f.rig->advance(milliseconds(9));
  EXPECT_EQ(runs, 0);
  f.rig->advance(milliseconds(1));
  EXPECT_EQ(runs, 1);
  f.rig->advance(milliseconds(20));
  EXPECT_EQ(runs, 3);
  EXPECT_FALSE(t.active());
  f.rig->advance(milliseconds(100));
  EXPECT_EQ(runs, 3);
}

// The per-request timeout: one timer, pushed back on every request, fires
// only once requests stop; and a timer that fired can be set again.
TEST(LoopTimers, RestartMovesATimerAndReArmsOneThatFired) {
  Fixture f;
  int fired = 0;
  Timer t = f.loop().after(milliseconds(100), [&] { ++fired; });
  for (int i = 0; i < 5; ++i) {
    f.rig->advance(milliseconds(60));
    EXPECT_TRUE(t.restart(milliseconds(100)));
  }
  EXPECT_EQ(fired, 0) << "300 ms passed, but never 100 ms since the last restart";
  f.rig->advance(milliseconds(100));
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(t.active());
  EXPECT_TRUE(t.restart(milliseconds(10)));
  EXPECT_TRUE(t.active());
  f.rig->advance(milliseconds(10));
  EXPECT_EQ(fired, 2);
  t.cancel();
  EXPECT_FALSE(t.restart(milliseconds(10))) << "a cancelled handle has no timer";
}

TEST(LoopTimers, EveryWithAZeroPeriodIsRefused) {
  Fixture f;
  Timer t = f.loop().every(milliseconds(0), [] {});
  EXPECT_FALSE(t.active());
  EXPECT_TRUE(f.rig->logged("the period must be above 0"));
}

TEST(LoopTimers, ACallbackThatThrowsIsLoggedAndTheLoopGoesOn) {
  Fixture f;
  int later = 0;
  Timer bad = f.loop().after(milliseconds(5), [] { throw std::runtime_error("boom"); });
  Timer good = f.loop().after(milliseconds(6), [&] { ++later; });
  f.rig->advance(milliseconds(10));
  EXPECT_TRUE(f.rig->logged("a timer's callback threw: boom")) << "logged";
  EXPECT_EQ(later, 1) << "the loop went on";
}

// A timer set for a connection (a request timeout, a TTL) sends to it when
// it fires, and what it sends is written without any other event.
TEST(LoopTimers, ATimerCanAnswerAConnectionLater) {
  Fixture f;
  struct Pending {
    Timer reply;
  };
  f.probe->opened = [&](Connection& c) {
    Connection* conn = &c;
    c.emplace_context<Pending>().reply =
        f.loop().after(milliseconds(50), [conn] { conn->send_frame(bytes_of("late")); });
  };
  const auto c = f.rig->net().connect();
  f.rig->settle();
  f.rig->advance(milliseconds(49));
  EXPECT_TRUE(f.rig->read_all(c).empty());
  f.rig->advance(milliseconds(1));
  EXPECT_EQ(f.rig->read_all(c), frame("late"));
}

// The context is the handler's per-connection state: typed, replaced by a
// second emplace, and destroyed with the connection after on_close (a
// timer it holds is cancelled with it).
TEST(ConnectionContext, IsTypedAndDiesWithTheConnectionAfterOnClose) {
  Fixture f;
  struct State {
    explicit State(std::vector<std::string>* e) : events(e) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() { events->push_back("context destroyed"); }
    std::vector<std::string>* events;
    Timer timer;
  };
  int fired = 0;
  f.probe->opened = [&](Connection& c) {
    State& s = c.emplace_context<State>(&f.probe->events);
    s.timer = f.loop().after(milliseconds(500), [&] { ++fired; });
  };
  const auto c = f.rig->net().connect();
  f.rig->settle();
  ASSERT_NE(f.probe->last, nullptr);
  Connection& conn = *f.probe->last;
  EXPECT_NE(conn.context<State>(), nullptr);
  EXPECT_EQ(conn.context<int>(), nullptr) << "another type is not there";
  f.rig->net().peer_reset(c);
  f.rig->settle();
  ASSERT_EQ(f.probe->events.size(), 2U);
  EXPECT_EQ(f.probe->events[0], "close");
  EXPECT_EQ(f.probe->events[1], "context destroyed");
  f.rig->advance(milliseconds(1000));
  EXPECT_EQ(fired, 0) << "the timer the context held died with it";
}

// post() is the one call that is safe from any thread; it wakes the loop
// and its task runs on the loop's thread, where it may send.
TEST(LoopPost, ATaskFromAnotherThreadRunsOnTheLoopAndMaySend) {
  Fixture f;
  const auto c = f.rig->net().connect();
  f.rig->settle();
  ASSERT_NE(f.probe->last, nullptr);
  const ConnectionHandle h = f.probe->last->handle();
  std::thread other([&] {
    f.loop().post([] { throw std::logic_error("a task failed"); });
    EXPECT_TRUE(f.loop().post_to(h, [](Connection& conn) { conn.send_frame(bytes_of("hi")); }));
  });
  other.join();
  f.rig->settle();
  EXPECT_EQ(f.rig->read_all(c), frame("hi"));
  EXPECT_TRUE(f.rig->logged("a posted task threw: a task failed"));
}

// A handle outlives its connection; using it then reaches nothing (ids are
// never reused), and the caller may learn so.
TEST(LoopPost, AStaleHandleIsRefusedNotFollowed) {
  Fixture f;
  const auto first = f.rig->net().connect();
  f.rig->settle();
  const ConnectionHandle stale = f.probe->last->handle();
  f.rig->net().peer_reset(first);
  f.rig->settle();
  const auto second = f.rig->net().connect();
  f.rig->settle();
  ASSERT_NE(f.probe->last, nullptr);
  EXPECT_NE(f.probe->last->handle(), stale);
  bool reached = false;
  bool refused = false;
  EXPECT_TRUE(f.loop().post_to(
      stale, [&](Connection&) { reached = true; }, [&] { refused = true; }));
  EXPECT_FALSE(f.loop().post_to(ConnectionHandle{7, stale.id}, [&](Connection&) {}))
      << "no loop 7 here";
  f.rig->settle();
  EXPECT_FALSE(reached);
  EXPECT_TRUE(refused);
  EXPECT_TRUE(f.rig->read_all(second).empty());
}

// Misuse from another thread is refused before anything is touched.
TEST(LoopPost, ConnectionAndTimerCallsFromAnotherThreadAreRefused) {
  Fixture f;
  const auto c = f.rig->net().connect();
  f.rig->settle();
  Connection* conn = f.probe->last;
  ASSERT_NE(conn, nullptr);
  bool sent = true;
  bool timer_active = true;
  std::thread other([&] {
    sent = conn->send_frame(bytes_of("from elsewhere"));
    timer_active = f.loop().after(milliseconds(1), [] {}).active();
  });
  other.join();
  f.rig->settle();
  EXPECT_FALSE(sent);
  EXPECT_FALSE(timer_active);
  EXPECT_TRUE(f.rig->read_all(c).empty());
  EXPECT_TRUE(f.rig->logged("Connection::send on connection"));
  EXPECT_TRUE(f.rig->logged("Loop::after was called from a thread other than loop 0's"));
}

}  // namespace
}  // namespace framed::sim
