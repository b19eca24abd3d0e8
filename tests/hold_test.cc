// Connection::hold() on the manual clock: a handler that answers later
// (a proxy awaiting its backends) keeps the connection open past the peer's
// EOF and the server's drain, which still stop its input; release() lets
// the close they deferred begin, after what was sent. And ServerOptions::
// metrics_extra is served after the server's own metrics.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "framed/encoder.h"
#include "sim/rig.h"

namespace framed::sim {
namespace {

using std::chrono::milliseconds;

std::vector<std::byte> frame(const std::string& payload) {
  std::vector<std::byte> out;
  (void)append_frame(out, std::as_bytes(std::span(payload.data(), payload.size())));
  return out;
}

std::string text(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

ServerOptions options() {
  ServerOptions o;
  o.log_level = LogLevel::debug;
  return o;
}

// Answers each frame 100 ms later (a timer stands in for a backend),
// holding the connection while any answer is owed.
struct Later final : FrameHandler {
  bool use_hold = true;
  std::vector<Timer> timers;
  int owed = 0;
  bool saw_stopping = false;
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    if (use_hold) c.hold();
    ++owed;
    std::string p(reinterpret_cast<const char*>(payload.data()), payload.size());
    const ConnectionHandle h = c.handle();
    Loop& loop = c.loop();
    timers.push_back(loop.after(milliseconds(100), [this, h, p, &loop] {
      saw_stopping = saw_stopping || loop.stopping();
      Connection* conn = loop.find(h.id);
      if (conn == nullptr) return;
      conn->send_frame(std::as_bytes(std::span(p.data(), p.size())));
      if (--owed == 0 && use_hold) conn->release();
    }));
  }
};

struct Fixture {
  Later* later = nullptr;
  Rig rig;
  explicit Fixture(bool hold)
      : rig(options(), nullptr, SimOptions{}, [this, hold](Loop&) {
          auto h = std::make_unique<Later>();
          h->use_hold = hold;
          later = h.get();
          return h;
        }) {}
};

// The peer sends two frames and its EOF at once; the answers come 100 ms
// later. Held, both arrive before the FIN; not held, the EOF closes first
// and they are lost (what hold() is for).
TEST(Hold, TheEofWaitsForTheAnswersOwed) {
  for (const bool hold : {true, false}) {
    Fixture f(hold);
    const auto c = f.rig.net().connect();
    f.rig.settle();
    auto stream = frame("one");
    const auto two = frame("two");
    stream.insert(stream.end(), two.begin(), two.end());
    ASSERT_EQ(f.rig.net().peer_send(c, stream), stream.size());
    f.rig.net().peer_shutdown(c);
    f.rig.advance(milliseconds(50));
    EXPECT_EQ(f.rig.net().conn(c).server_fin, !hold) << "hold " << hold;
    f.rig.advance(milliseconds(100));
    const auto got = f.rig.read_all(c);
    if (hold) {
      EXPECT_EQ(got, stream) << "both answers, in order, then the close";
      EXPECT_TRUE(f.rig.net().conn(c).server_fin);
    } else {
      EXPECT_TRUE(got.empty());
    }
  }
}

// The drain stops a held connection's input at the end of the frame in
// progress, and its close waits for the answer owed; the loop reports
// stopping() meanwhile, and nothing is cut.
TEST(Hold, TheDrainWaitsForTheAnswersOwedThenCloses) {
  Fixture f(true);
  const auto c = f.rig.net().connect();
  f.rig.settle();
  const auto one = frame("one");
  const auto two = frame("two");
  ASSERT_EQ(f.rig.net().peer_send(c, one), one.size());
  // Half of the second frame: in progress when the drain begins.
  ASSERT_EQ(f.rig.net().peer_send(c, std::span(two).first(5)), 5U);
  f.rig.settle();
  f.rig.begin_shutdown();
  f.rig.advance(milliseconds(20));
  EXPECT_FALSE(f.rig.net().conn(c).server_fin);
  ASSERT_EQ(f.rig.net().peer_send(c, std::span(two).subspan(5)), two.size() - 5);
  const auto three = frame("three");  // After the drain's frame end: not read.
  ASSERT_EQ(f.rig.net().peer_send(c, three), three.size());
  f.rig.advance(milliseconds(200));
  auto expected = one;
  expected.insert(expected.end(), two.begin(), two.end());
  EXPECT_EQ(f.rig.read_all(c), expected);
  EXPECT_TRUE(f.later->saw_stopping);
  f.rig.advance(milliseconds(1000));
  EXPECT_TRUE(f.rig.net().conn(c).server_fin);
  EXPECT_TRUE(f.rig.done()) << "drained without a cut";
  EXPECT_FALSE(f.rig.logged("force-closing"));
}

// A held connection with nothing in progress at the drain stops reading at
// once; its release closes it.
TEST(Hold, ReleaseAfterTheDrainClosesAtOnce) {
  Fixture f(true);
  const auto c = f.rig.net().connect();
  f.rig.settle();
  ASSERT_EQ(f.rig.net().peer_send(c, frame("one")), 7U);
  f.rig.settle();
  f.rig.begin_shutdown();
  f.rig.settle();
  ASSERT_EQ(f.rig.net().peer_send(c, frame("late")), 8U);
  f.rig.advance(milliseconds(150));
  EXPECT_EQ(text(f.rig.read_all(c)), text(frame("one")));
  f.rig.advance(milliseconds(1000));
  EXPECT_TRUE(f.rig.net().conn(c).server_fin);
  EXPECT_TRUE(f.rig.done());
}

// An oversize length while held: the answers owed to the frames before it
// go out, then the close; what follows the bad header is never read.
TEST(Hold, AnOversizeLengthWaitsForTheAnswersOwedToTheFramesBefore) {
  Fixture f(true);
  const auto c = f.rig.net().connect();
  f.rig.settle();
  auto stream = frame("one");
  for (int i = 0; i < 4; ++i) stream.push_back(std::byte{0xFF});
  ASSERT_EQ(f.rig.net().peer_send(c, stream), stream.size());
  f.rig.advance(milliseconds(50));
  EXPECT_FALSE(f.rig.net().conn(c).server_fin);
  ASSERT_EQ(f.rig.net().peer_send(c, frame("two")), 7U);  // Never read.
  f.rig.advance(milliseconds(100));
  EXPECT_EQ(text(f.rig.read_all(c)), text(frame("one")));
  f.rig.advance(milliseconds(1000));
  EXPECT_TRUE(f.rig.net().conn(c).server_fin);
  std::size_t errors = 0;
  for (const auto& line : f.rig.take_log()) errors += line.find("protocol error") != std::string::npos;
  EXPECT_EQ(errors, 1U) << "one bad header, one error";
}

// Input the handler kept back (paused) when the drain ends a held
// connection's input is never delivered, even when it resumes reading.
TEST(Hold, InputKeptBackIsNotDeliveredAfterTheDrain) {
  struct PauseUntilAnswered final : FrameHandler {
    int seen = 0;
    std::vector<Timer> timers;
    void on_frame(Connection& c, std::span<const std::byte> payload) override {
      ++seen;
      c.hold();
      c.pause_reading();
      std::vector<std::byte> p(payload.begin(), payload.end());
      Loop& loop = c.loop();
      const std::uint64_t id = c.id();
      timers.push_back(loop.after(milliseconds(100), [&loop, id, p] {
        if (Connection* conn = loop.find(id)) {
          conn->send_frame(p);
          conn->resume_reading();
          conn->release();
        }
      }));
    }
  };
  PauseUntilAnswered* h = nullptr;
  Rig rig(options(), nullptr, SimOptions{}, [&h](Loop&) {
    auto made = std::make_unique<PauseUntilAnswered>();
    h = made.get();
    return made;
  });
  const auto c = rig.net().connect();
  rig.settle();
  auto stream = frame("one");
  for (const char* s : {"two", "three"}) {
    const auto more = frame(s);
    stream.insert(stream.end(), more.begin(), more.end());
  }
  ASSERT_EQ(rig.net().peer_send(c, stream), stream.size());
  rig.settle();
  ASSERT_EQ(h->seen, 1);
  rig.begin_shutdown();
  rig.advance(milliseconds(300));
  EXPECT_EQ(h->seen, 1) << "two and three were kept back when the drain ended the input";
  EXPECT_EQ(text(rig.read_all(c)), text(frame("one")));
  rig.advance(milliseconds(1000));
  EXPECT_TRUE(rig.net().conn(c).server_fin);
}

// Connection::set_backlog_cap(SIZE_MAX): input is read whatever the
// connection owes (a proxy's backend side); with the server's cap, input
// stops once the output owed reaches it.
TEST(BacklogCap, AConnectionsOwnCapReplacesTheServers) {
  struct Big final : FrameHandler {
    bool uncapped = false;
    int seen = 0;
    void on_open(Connection& c) override {
      if (uncapped) c.set_backlog_cap(SIZE_MAX);
    }
    void on_frame(Connection& c, std::span<const std::byte>) override {
      ++seen;
      c.send_frame(std::vector<std::byte>(300'000, std::byte{7}));  // Above 256 KiB.
    }
  };
  for (const bool uncapped : {false, true}) {
    Big* h = nullptr;
    Rig rig(options(), nullptr, SimOptions{}, [&](Loop&) {
      auto made = std::make_unique<Big>();
      made->uncapped = uncapped;
      h = made.get();
      return made;
    });
    const auto c = rig.net().connect();
    rig.settle();
    std::vector<std::byte> stream;
    for (int i = 0; i < 5; ++i) {
      const auto f = frame("x");
      stream.insert(stream.end(), f.begin(), f.end());
    }
    ASSERT_EQ(rig.net().peer_send(c, stream), stream.size());
    rig.advance(milliseconds(50));  // The peer reads nothing.
    if (uncapped) {
      EXPECT_EQ(h->seen, 5);
    } else {
      EXPECT_LE(h->seen, 2) << "input stops once the output owed reaches 256 KiB";
    }
  }
}

// The drain timeout still cuts a connection held for ever.
TEST(Hold, TheDrainTimeoutCutsAConnectionHeldForEver) {
  struct Forever final : FrameHandler {
    void on_frame(Connection& c, std::span<const std::byte>) override { c.hold(); }
  };
  auto o = options();
  o.drain_timeout = milliseconds(300);
  Rig rig(o, nullptr, SimOptions{}, [](Loop&) { return std::make_unique<Forever>(); });
  const auto c = rig.net().connect();
  rig.settle();
  ASSERT_EQ(rig.net().peer_send(c, frame("x")), 5U);
  rig.settle();
  rig.begin_shutdown();
  rig.advance(milliseconds(200));
  EXPECT_FALSE(rig.net().conn(c).server_closed);
  rig.advance(milliseconds(200));
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_TRUE(rig.logged("force-closing"));
}

}  // namespace
}  // namespace framed::sim
