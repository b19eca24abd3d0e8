// What the metrics count, on the manual clock with the real connection
// logic (sim/rig.h): each close under the reason it began with, frames
// received and their sizes, and the reply latency from a frame's last byte
// in to its reply's last byte out.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/conn.h"
#include "core/conn_table.h"
#include "core/counters.h"
#include "framed/encoder.h"
#include "frames.h"
#include "sim/rig.h"

namespace framed::sim {
namespace {

using core::CloseReason;
using std::chrono::milliseconds;

ServerOptions options() {
  ServerOptions o;
  o.log_level = LogLevel::debug;
  o.idle_timeout = milliseconds(1000);
  o.frame_timeout = milliseconds(500);
  o.max_frame = 1024;
  return o;
}

std::size_t connect(Rig& rig) {
  const std::size_t id = rig.net().connect();
  rig.settle();
  return id;
}

std::uint64_t closed(Rig& rig, CloseReason r) {
  return rig.worker().counters().closed[static_cast<std::size_t>(r)].load();
}

TEST(MetricsCounts, EachCloseIsCountedUnderTheReasonItBeganWith) {
  Rig rig(options());
  const auto clean = connect(rig);
  const auto cut = connect(rig);
  const auto idle = connect(rig);
  const auto slow = connect(rig);
  const auto big = connect(rig);
  const auto reset = connect(rig);
  // EOF between frames; EOF mid-frame.
  const auto f = frame("whole");
  ASSERT_EQ(rig.net().peer_send(clean, f), f.size());
  rig.net().peer_shutdown(clean);
  ASSERT_EQ(rig.net().peer_send(cut, std::span(f).first(6)), 6U);
  rig.net().peer_shutdown(cut);
  // Oversize; a reset.
  const std::vector<std::byte> huge = {std::byte{0}, std::byte{0}, std::byte{8}, std::byte{0}};
  ASSERT_EQ(rig.net().peer_send(big, huge), huge.size());
  rig.net().peer_reset(reset);
  rig.settle();
  // A frame begun and never finished; a connection that says nothing.
  ASSERT_EQ(rig.net().peer_send(slow, std::span(f).first(5)), 5U);
  rig.settle();
  rig.advance(milliseconds(2000));
  // Every lingering close ends when its peer's EOF comes.
  for (const auto id : {big, slow, idle}) rig.net().peer_shutdown(id);
  rig.settle();
  EXPECT_EQ(closed(rig, CloseReason::eof), 1U);
  EXPECT_EQ(closed(rig, CloseReason::truncated), 1U);
  EXPECT_EQ(closed(rig, CloseReason::oversize), 1U);
  EXPECT_EQ(closed(rig, CloseReason::reset), 1U);
  EXPECT_EQ(closed(rig, CloseReason::frame_timeout), 1U);
  EXPECT_EQ(closed(rig, CloseReason::idle), 1U);
  std::uint64_t all = 0;
  for (const auto& c : rig.worker().counters().closed) all += c.load();
  EXPECT_EQ(all, 6U) << "each connection counted once, under its first reason";
  EXPECT_EQ(rig.worker().counters().frames_received.load(), 1U);
  EXPECT_EQ(rig.worker().counters().frame_sizes[0].load(), 1U);
}

TEST(MetricsCounts, TheDrainAndItsTimeoutAreReasonsOfTheirOwn) {
  auto o = options();
  o.drain_timeout = milliseconds(100);
  o.frame_timeout = milliseconds(0);
  o.idle_timeout = milliseconds(0);
  Rig rig(o);
  const auto quiet = connect(rig);
  const auto busy = connect(rig);
  const auto f = frame("unfinished");
  ASSERT_EQ(rig.net().peer_send(busy, std::span(f).first(6)), 6U);
  rig.settle();
  rig.begin_shutdown();
  rig.net().peer_shutdown(quiet);
  rig.settle();
  rig.advance(milliseconds(200));
  EXPECT_EQ(closed(rig, CloseReason::drain), 1U);
  EXPECT_EQ(closed(rig, CloseReason::drain_timeout), 1U);
}

// Replies a moment after each frame, from a timer.
class Later final : public FrameHandler {
 public:
  explicit Later(milliseconds delay) : delay_(delay) {}
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    std::vector<std::byte> copy(payload.begin(), payload.end());
    timers_.push_back(c.loop().after(delay_, [&c, copy] { c.send_frame(copy); }));
  }

 private:
  milliseconds delay_;
  std::vector<Timer> timers_;
};

std::uint64_t in_bucket(Rig& rig, std::size_t i) {
  return rig.worker().counters().latency[i].load();
}

TEST(MetricsCounts, ReplyLatencyRunsFromTheFramesArrivalToItsReplyWritten) {
  Rig rig(options(), nullptr, {}, [](Loop&) { return std::make_unique<Later>(milliseconds(2)); });
  const auto c = connect(rig);
  const auto input = [] {
    auto a = frame("one");
    const auto b = frame("two");
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }();
  ASSERT_EQ(rig.net().peer_send(c, input), input.size());
  rig.settle();
  rig.advance(milliseconds(2));
  EXPECT_EQ(rig.read_all(c), input);
  // Both 2 ms: in the (1 ms, 5 ms] bucket, and the sum is exact.
  const std::size_t two_ms = core::latency_bucket(2'000'000);
  EXPECT_EQ(core::kLatencyBounds[two_ms], 0.005);
  EXPECT_EQ(in_bucket(rig, two_ms), 2U);
  EXPECT_EQ(rig.worker().counters().latency_sum_ns.load(), 4'000'000U);
  std::uint64_t all = 0;
  for (const auto& b : rig.worker().counters().latency) all += b.load();
  EXPECT_EQ(all, 2U);
}

// Answers each frame with a reply far larger than the socket takes at once.
class Flood final : public FrameHandler {
 public:
  void on_frame(Connection& c, std::span<const std::byte> /*payload*/) override {
    c.send_frame(std::vector<std::byte>(1U << 20U, std::byte{0x42}));
  }
};

TEST(MetricsCounts, PendingOutputIsWhatTheKernelHasNotTakenYet) {
  Rig rig(options(), nullptr, {}, [](Loop&) { return std::make_unique<Flood>(); });
  const auto c = connect(rig);
  const auto f = frame("go");
  ASSERT_EQ(rig.net().peer_send(c, f), f.size());
  rig.settle();
  const std::uint64_t reply = (1U << 20U) + 4;
  const auto& gauge = rig.worker().counters().pending_bytes;
  ASSERT_LT(rig.net().conn(c).written, reply);
  EXPECT_EQ(gauge.load(), reply - rig.net().conn(c).written);
  // The peer reads; the server writes the rest as room comes.
  std::uint64_t got = 0;
  for (int i = 0; i < 100 && got < reply; ++i) {
    got += rig.read_all(c).size();
    rig.settle();
    EXPECT_EQ(gauge.load(), reply - rig.net().conn(c).written);
  }
  EXPECT_EQ(got, reply);
  EXPECT_EQ(gauge.load(), 0U);
  // A connection closed with output still owed takes its share away.
  ASSERT_EQ(rig.net().peer_send(c, f), f.size());
  rig.settle();
  EXPECT_GT(gauge.load(), 0U);
  rig.net().peer_reset(c);
  rig.settle();
  EXPECT_EQ(gauge.load(), 0U);
}

// Replies to each frame when the next one arrives: one run always waits.
class OneBehind final : public FrameHandler {
 public:
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    if (!prev_.empty()) c.send_frame(prev_);
    prev_.assign(payload.begin(), payload.end());
  }

 private:
  std::vector<std::byte> prev_;
};

// Found by review: the latency queue kept every answered run while one
// stayed waiting, growing by one run per read for as long as the
// connection lived.
TEST(MetricsCounts, TheLatencyQueueStaysBoundedWhileARunAlwaysWaits) {
  Rig rig(options(), nullptr, {}, [](Loop&) { return std::make_unique<OneBehind>(); });
  const auto c = connect(rig);
  for (int i = 0; i < 2000; ++i) {
    const auto f = frame("frame " + std::to_string(i));
    ASSERT_EQ(rig.net().peer_send(c, f), f.size());
    rig.settle();
    (void)rig.read_all(c);
    rig.advance(milliseconds(1));
  }
  std::size_t held = 0;
  rig.worker().table().for_each([&](core::Conn& conn) { held = conn.arrival_runs_held(); });
  EXPECT_LE(held, 128U);
  // Every reply was still timed: 1999 of them, 1 ms each.
  std::uint64_t timed = 0;
  for (const auto& b : rig.worker().counters().latency) timed += b.load();
  EXPECT_EQ(timed, 1999U);
}

TEST(MetricsCounts, AnImmediateEchoHasNoLatencyOnTheManualClock) {
  Rig rig(options());
  const auto c = connect(rig);
  const auto f = frame("now");
  ASSERT_EQ(rig.net().peer_send(c, f), f.size());
  rig.settle();
  EXPECT_EQ(rig.read_all(c), f);
  EXPECT_EQ(in_bucket(rig, 0), 1U);
  EXPECT_EQ(rig.worker().counters().latency_sum_ns.load(), 0U);
}

}  // namespace
}  // namespace framed::sim
