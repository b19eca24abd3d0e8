// Flow control on the manual clock: writability with high and low water
// marks (on_drain), a handler pausing and resuming its own input, and the
// runtime error for a 1.0-style handler whose delivery() names a callback
// it does not override.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "framed/encoder.h"
#include "sim/rig.h"

namespace framed::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::byte> frame(const std::string& payload) {
  std::vector<std::byte> out;
  (void)append_frame(out, std::as_bytes(std::span(payload.data(), payload.size())));
  return out;
}

ServerOptions options() {
  ServerOptions o;
  o.log_level = LogLevel::debug;
  o.high_water = 40'000;
  o.low_water = 10'000;
  return o;
}

// Replies to each request with `reply` bytes, noting writability.
struct Producer final : FrameHandler {
  std::size_t reply = 30'000;
  int drains = 0;
  bool seen_unwritable = false;
  std::size_t pending_at_drain = 0;
  void on_frame(Connection& c, std::span<const std::byte> /*payload*/) override {
    c.send_frame(std::vector<std::byte>(reply, std::byte{1}));
    if (!c.writable()) seen_unwritable = true;
  }
  void on_drain(Connection& c) override {
    ++drains;
    pending_at_drain = c.pending_bytes();
  }
};

TEST(FlowControl, WritabilityFollowsTheWaterMarksAndOnDrainComesOnce) {
  Producer* p = nullptr;
  const ServerOptions o = options();
  Rig rig(o, nullptr, SimOptions{.server_sndbuf = 16U << 10U, .peer_rcvbuf = 16U << 10U},
          [&](Loop&) {
            auto h = std::make_unique<Producer>();
            p = h.get();
            return h;
          });
  const auto c = rig.net().connect();
  rig.settle();
  std::vector<std::byte> requests;
  for (int i = 0; i < 3; ++i) {
    const auto f = frame("get");
    requests.insert(requests.end(), f.begin(), f.end());
  }
  ASSERT_EQ(rig.net().peer_send(c, requests), requests.size());
  rig.advance(milliseconds(10));  // The peer does not read yet.
  EXPECT_TRUE(p->seen_unwritable) << "90 KB owed, 32 KB of it in buffers: above 40 KB";
  EXPECT_EQ(p->drains, 0);
  std::size_t got = 0;
  for (int i = 0; i < 200 && got < 3 * 30'004; ++i) {
    got += rig.read_all(c).size();
    rig.advance(milliseconds(1));
  }
  EXPECT_EQ(got, 3U * 30'004U);
  EXPECT_EQ(p->drains, 1) << "one on_drain for one passage above the high-water mark";
  EXPECT_LE(p->pending_at_drain, o.low_water);
}

// Echoes whole frames; pauses its input after the second frame.
struct Pauser final : FrameHandler {
  Connection* conn = nullptr;
  std::vector<std::string> seen;
  void on_open(Connection& c) override { conn = &c; }
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    seen.emplace_back(reinterpret_cast<const char*>(payload.data()), payload.size());
    c.send_frame(payload);
    if (seen.size() == 2) c.pause_reading();
  }
};

TEST(FlowControl, PauseReadingHoldsInputInOrderUntilResumed) {
  Pauser* p = nullptr;
  auto o = options();
  o.frame_timeout = milliseconds(500);
  Rig rig(o, nullptr, SimOptions{}, [&](Loop&) {
    auto h = std::make_unique<Pauser>();
    p = h.get();
    return h;
  });
  const auto c = rig.net().connect();
  rig.settle();
  std::vector<std::byte> stream;
  for (const char* s : {"one", "two", "three", "four"}) {
    const auto f = frame(s);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  // And the first byte of a fifth frame: a frame in progress while paused.
  stream.push_back(std::byte{0});
  ASSERT_EQ(rig.net().peer_send(c, stream), stream.size());
  rig.advance(seconds(2));
  ASSERT_EQ(p->seen.size(), 2U) << "nothing is delivered while paused";
  EXPECT_TRUE(p->conn->reading_paused());
  EXPECT_FALSE(rig.net().conn(c).server_fin) << "the pause does not count as a frame timeout";
  p->conn->resume_reading();
  rig.settle();
  ASSERT_EQ(p->seen.size(), 4U);
  EXPECT_EQ(p->seen[2], "three");
  EXPECT_EQ(p->seen[3], "four");
  std::vector<std::byte> echoed;
  for (const char* s : {"one", "two", "three", "four"}) {
    const auto f = frame(s);
    echoed.insert(echoed.end(), f.begin(), f.end());
  }
  EXPECT_EQ(rig.read_all(c), echoed);
}

// A 1.0-style handler: chunks chosen, on_frame written. Its input is
// dropped (as before) but no longer without a word.
struct Mismatched final : Handler {
  [[nodiscard]] Delivery delivery() const noexcept override { return Delivery::chunks; }
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(payload);
  }
};

TEST(HandlerMismatch, ADeliveryWithoutItsCallbackIsLoggedOnce) {
  Rig rig(options(), nullptr, SimOptions{}, [](Loop&) { return std::make_unique<Mismatched>(); });
  const auto c = rig.net().connect();
  rig.settle();
  const auto f = frame("lost");
  ASSERT_EQ(rig.net().peer_send(c, f), f.size());
  ASSERT_EQ(rig.net().peer_send(c, f), f.size());
  rig.settle();
  const auto lines = rig.take_log();
  int errors = 0;
  for (const auto& l : lines) {
    if (l.find("does not override on_chunk") != std::string::npos) ++errors;
  }
  EXPECT_EQ(errors, 1) << "said once, not per chunk";
}

}  // namespace
}  // namespace framed::sim
