// The connection's rules of spec/PROTOCOL.md §6 on the manual clock: the
// real Worker, Acceptor and Conn over the simulated transport (sim/rig.h),
// so that every timeout is tested at its exact deadline, in microseconds,
// the same way every run. (integration/ keeps one real-time test per rule
// against the real binary.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "framed/encoder.h"
#include "frames.h"
#include "sim/rig.h"

namespace framed::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::byte> frame_of_size(std::size_t n, std::uint8_t fill = 0x5A) {
  std::vector<std::byte> out;
  (void)append_frame(out, std::vector<std::byte>(n, std::byte{fill}));
  return out;
}

std::vector<std::byte> header(std::uint32_t length) {
  const auto h = encode_header(length);
  return {h.begin(), h.end()};
}

std::vector<std::byte> prefix(const std::vector<std::byte>& v, std::size_t n) {
  return {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n)};
}

std::vector<std::byte> cat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

ServerOptions options() {
  ServerOptions o;
  o.log_level = LogLevel::debug;
  return o;
}

// A connection accepted and settled.
std::size_t connect(Rig& rig) {
  const std::size_t id = rig.net().connect();
  rig.settle();
  EXPECT_EQ(rig.net().conn(id).phase, SimConn::Phase::accepted);
  return id;
}

// The server has begun closing: its FIN is queued (a graceful close).
bool closing(Rig& rig, std::size_t id) { return rig.net().conn(id).server_fin; }

TEST(ConnRules, EchoesEveryFrameAndClosesGracefullyAtEndOfInput) {
  Rig rig(options());
  const auto c = connect(rig);
  const auto input = cat(cat(frame("hello"), frame("")), frame("world"));
  ASSERT_EQ(rig.net().peer_send(c, input), input.size());
  rig.net().peer_shutdown(c);
  rig.settle();
  EXPECT_EQ(rig.read_all(c), input);
  EXPECT_TRUE(rig.net().peer_at_end(c));
  EXPECT_FALSE(rig.net().conn(c).server_rst);
  EXPECT_EQ(rig.worker().counters().frames_echoed.load(), 3U);
}

TEST(ConnRules, IdleTimeoutClosesASilentConnectionAtItsDeadlineGracefully) {
  auto o = options();
  o.idle_timeout = milliseconds(500);
  Rig rig(o);
  const auto c = connect(rig);
  rig.advance(milliseconds(499));
  EXPECT_FALSE(closing(rig, c));
  rig.advance(milliseconds(1));
  EXPECT_TRUE(closing(rig, c));
  EXPECT_TRUE(rig.logged("closing: idle timeout 500ms"));
  EXPECT_FALSE(rig.net().conn(c).server_rst);
  EXPECT_EQ(rig.worker().counters().timed_out.load(), 1U);
}

TEST(ConnRules, IdleClockCountsReadsThatProduceNoEcho) {
  auto o = options();
  o.idle_timeout = milliseconds(900);
  o.frame_timeout = milliseconds(0);
  Rig rig(o);
  const auto c = connect(rig);
  // Header bytes one at a time: read, held back, never echoed yet.
  const auto header = encode_header(8);
  for (int i = 0; i < 3; ++i) {
    rig.advance(milliseconds(600));
    ASSERT_EQ(rig.net().peer_send(c, std::span(header).subspan(static_cast<std::size_t>(i), 1)),
              1U);
    rig.settle();
  }
  EXPECT_FALSE(closing(rig, c)) << "1.8 s in, but never 900 ms without a byte";
  rig.advance(milliseconds(900));
  EXPECT_TRUE(closing(rig, c));
}

TEST(ConnRules, IdleTimeoutSparesASteadySlowReaderUnderBackpressure) {
  auto o = options();
  o.idle_timeout = milliseconds(1000);
  Rig rig(o, nullptr, SimOptions{.server_sndbuf = 64U << 10U, .peer_rcvbuf = 64U << 10U});
  const auto c = connect(rig);
  // Far more than the buffers and the backlog cap hold: the server stops
  // reading, and the echo moves only as the peer reads.
  const auto big = frame_of_size(2U << 20U);
  std::size_t sent = 0;
  std::size_t got = 0;
  for (int step = 0; step < 200 && got < big.size(); ++step) {
    sent += rig.net().peer_send(c, std::span(big).subspan(sent));
    rig.settle();
    // The peer reads 16 KiB every 400 ms: under the idle timeout, and
    // visible to the server only through its acknowledgements.
    rig.advance(milliseconds(400));
    rig.net().deliver(c, 16U << 10U);
    std::vector<std::byte> into;
    got += rig.net().peer_recv(c, into, 16U << 10U);
    ASSERT_FALSE(closing(rig, c)) << "closed after " << got << " bytes";
  }
  EXPECT_GT(got, 512U << 10U);
}

TEST(ConnRules, ZeroDisablesBothTimeouts) {
  auto o = options();
  o.idle_timeout = milliseconds(0);
  o.frame_timeout = milliseconds(0);
  Rig rig(o);
  const auto c = connect(rig);
  ASSERT_EQ(rig.net().peer_send(c, prefix(frame("abc"), 5)), 5U);
  rig.settle();
  rig.advance(std::chrono::hours(24));
  EXPECT_FALSE(closing(rig, c));
  EXPECT_EQ(rig.next_timer(), loop::TimePoint::max());
}

TEST(ConnRules, FrameTimeoutCutsAFrameAtItsDeadlineWhateverTrickles) {
  auto o = options();
  o.frame_timeout = milliseconds(300);
  o.idle_timeout = milliseconds(0);
  Rig rig(o);
  const auto c = connect(rig);
  const auto f = frame_of_size(100);
  // A byte every 50 ms: activity, but the frame never completes.
  for (std::size_t i = 0; i < 6; ++i) {
    ASSERT_EQ(rig.net().peer_send(c, std::span(f).subspan(i, 1)), 1U);
    rig.advance(milliseconds(50));
    if (i < 5) {
      ASSERT_FALSE(closing(rig, c)) << "at " << (i + 1) * 50 << " ms";
    }
  }
  EXPECT_TRUE(closing(rig, c));
  EXPECT_TRUE(rig.logged("frame timeout: frame incomplete 300ms after its first byte"));
}

TEST(ConnRules, FrameTimerStopsAtTheEndOfAFrameAndRestartsForTheNext) {
  auto o = options();
  o.frame_timeout = milliseconds(1000);
  o.idle_timeout = milliseconds(0);
  Rig rig(o);
  const auto c = connect(rig);
  const auto one = frame_of_size(10);
  const auto two = frame_of_size(10);
  // The first frame's start, 900 ms, then one read that ends it and begins
  // the second: the second's clock starts there.
  ASSERT_EQ(rig.net().peer_send(c, std::span(one).first(5)), 5U);
  rig.advance(milliseconds(900));
  auto rest = cat(std::vector<std::byte>(one.begin() + 5, one.end()),
                  std::vector<std::byte>(two.begin(), two.begin() + 3));
  ASSERT_EQ(rig.net().peer_send(c, rest), rest.size());
  rig.advance(milliseconds(999));
  EXPECT_FALSE(closing(rig, c)) << "the second frame is 999 ms old";
  rig.advance(milliseconds(1));
  EXPECT_TRUE(closing(rig, c));
}

TEST(ConnRules, ACompleteFrameLeavesNoFrameTimerBehind) {
  auto o = options();
  o.frame_timeout = milliseconds(1000);
  o.idle_timeout = milliseconds(0);
  Rig rig(o);
  const auto c = connect(rig);
  const auto one = frame_of_size(10);
  ASSERT_EQ(rig.net().peer_send(c, one), one.size());
  rig.advance(std::chrono::hours(1));
  EXPECT_FALSE(closing(rig, c));
}

TEST(ConnRules, FrameTimerDoesNotRunWhileTheServerIsNotReading) {
  auto o = options();
  o.frame_timeout = milliseconds(1000);
  o.idle_timeout = milliseconds(0);
  o.linger_timeout = seconds(60);
  Rig rig(o, nullptr, SimOptions{.server_sndbuf = 64U << 10U, .peer_rcvbuf = 64U << 10U});
  const auto c = connect(rig);
  // One frame far larger than the buffers and the cap: its echo backs up,
  // the server stops reading, and the peer reads nothing for 5 s.
  const auto big = frame_of_size(4U << 20U);
  std::size_t sent = 0;
  for (int i = 0; i < 20; ++i) {
    sent += rig.net().peer_send(c, std::span(big).subspan(sent));
    rig.settle();
  }
  ASSERT_LT(sent, big.size());
  ASSERT_EQ(rig.net().peer_send(c, std::span(big).subspan(sent)), 0U)
      << "the server is not reading";
  // The peer's send stays blocked for 5 s, 5 times the frame timeout.
  rig.advance(seconds(5));
  EXPECT_FALSE(closing(rig, c)) << "the server's pause is not the peer's slowness";
  // Then the peer reads and sends on; the frame completes in time.
  for (int i = 0; i < 400 && sent < big.size(); ++i) {
    (void)rig.read_all(c);
    sent += rig.net().peer_send(c, std::span(big).subspan(sent));
    rig.advance(milliseconds(1));
  }
  EXPECT_EQ(sent, big.size());
  EXPECT_FALSE(closing(rig, c));
}

TEST(ConnRules, OversizeEchoesEarlierFramesThenClosesWithoutAReset) {
  auto o = options();
  o.max_frame = 16;
  Rig rig(o);
  const auto c = connect(rig);
  const auto good = cat(frame("abc"), frame(""));
  const auto input = cat(cat(good, header(17)), std::vector<std::byte>(17, std::byte{1}));
  ASSERT_EQ(rig.net().peer_send(c, input), input.size());
  rig.settle();
  EXPECT_TRUE(closing(rig, c));
  // The peer sends on after the bad header: the server discards it, and
  // closes only once everything it wrote is acknowledged.
  rig.net().peer_send(c, std::vector<std::byte>(100, std::byte{2}));
  rig.advance(milliseconds(200));
  EXPECT_EQ(rig.read_all(c), good);
  rig.advance(milliseconds(200));
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_FALSE(rig.net().conn(c).server_rst);
  EXPECT_TRUE(
      rig.logged("protocol error: frame_too_large (length 17 > limit 16, header 00 00 00 11)"));
}

TEST(ConnRules, AClosingPeerThatNeverReadsIsDroppedAfterTheLingerTimeout) {
  auto o = options();
  o.linger_timeout = milliseconds(300);
  o.idle_timeout = milliseconds(0);
  o.max_frame = 64U << 10U;
  Rig rig(o, nullptr, SimOptions{.server_sndbuf = 64U << 10U, .peer_rcvbuf = 64U << 10U});
  const auto c = connect(rig);
  // Echoes the peer never reads, then an oversize header: closing begins
  // with bytes owed that will never be acknowledged.
  for (int i = 0; i < 4; ++i) {
    (void)rig.net().peer_send(c, frame_of_size(60U << 10U));
    rig.settle();
  }
  // The peer's window stays closed: nothing is ever delivered.
  (void)rig.net().peer_send(c, header(70U << 10U));
  rig.settle();
  ASSERT_FALSE(rig.net().conn(c).server_closed);
  rig.advance(milliseconds(299));
  EXPECT_FALSE(rig.net().conn(c).server_closed);
  rig.advance(milliseconds(1));
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_TRUE(rig.logged("peer acknowledged nothing for 300ms while closing"));
}

TEST(ConnRules, LingerTimeBoundsAClosingPeerThatKeepsReadingSlowly) {
  auto o = options();
  o.linger_time = seconds(1);
  o.linger_timeout = seconds(60);
  o.idle_timeout = milliseconds(0);
  o.max_frame = 64U << 10U;
  Rig rig(o, nullptr, SimOptions{.server_sndbuf = 64U << 10U, .peer_rcvbuf = 16U << 10U});
  const auto c = connect(rig);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(rig.net().peer_send(c, frame_of_size(60U << 10U)), (60U << 10U) + 4);
    rig.settle();
  }
  (void)rig.net().peer_send(c, header(70U << 10U));
  rig.settle();
  // 1 KiB every 100 ms: always progress, never done.
  for (int i = 0; i < 9; ++i) {
    rig.advance(milliseconds(100));
    std::vector<std::byte> into;
    (void)rig.net().peer_recv(c, into, 1024);
    rig.net().deliver(c, 1024);
  }
  EXPECT_FALSE(rig.net().conn(c).server_closed);
  rig.advance(milliseconds(100));
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_TRUE(rig.logged("after closing began (--linger-time)"));
}

TEST(ConnRules, ALingeringConnectionClosesOnceThePeerHasEveryEcho) {
  auto o = options();
  o.idle_timeout = milliseconds(200);
  o.linger_timeout = seconds(60);
  Rig rig(o);
  const auto c = connect(rig);
  const auto f = frame("echo me");
  ASSERT_EQ(rig.net().peer_send(c, f), f.size());
  rig.settle();
  rig.advance(milliseconds(200));  // Idle: closing, lingering (the peer may still send).
  ASSERT_TRUE(closing(rig, c));
  ASSERT_FALSE(rig.net().conn(c).server_closed);
  // The kernel is asked every 100 ms; once the peer's kernel has the echo
  // and the FIN, the socket is closed, and no reset can destroy anything.
  rig.net().deliver(c);
  rig.advance(milliseconds(100));
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_FALSE(rig.net().conn(c).server_rst);
  EXPECT_EQ(rig.read_all(c), f);
}

TEST(ConnRules, APeerEofWhileLingeringClosesAtOnce) {
  auto o = options();
  o.idle_timeout = milliseconds(100);
  o.linger_timeout = seconds(60);
  Rig rig(o);
  const auto c = connect(rig);
  rig.advance(milliseconds(100));
  ASSERT_TRUE(closing(rig, c));
  rig.net().peer_shutdown(c);
  rig.settle();
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_TRUE(rig.logged("closed: peer sent EOF while lingering"));
}

TEST(ConnRules, AProxyHeaderNotCompleteInTimeClosesTheConnection) {
  auto o = options();
  o.proxy_protocol = true;
  o.proxy_timeout = milliseconds(3000);
  Rig rig(o);
  const auto c = connect(rig);
  const std::string v1 = "PROXY TCP4 10.0.0.1 10.0.0.2 1111 2222\r\n";
  ASSERT_EQ(rig.net().peer_send(c, bytes_of(v1.substr(0, 10))), 10U);
  rig.advance(milliseconds(2999));
  EXPECT_FALSE(closing(rig, c));
  rig.advance(milliseconds(1));
  EXPECT_TRUE(closing(rig, c));
  EXPECT_TRUE(rig.logged(
      "PROXY header timeout: no complete header 3000ms after the accept (10 bytes of it)"));
}

TEST(ConnRules, AProxyHeaderNamesTheClientThenFramesAreEchoed) {
  auto o = options();
  o.proxy_protocol = true;
  Rig rig(o);
  const auto c = connect(rig);
  const auto f = frame("after the header");
  const auto input = cat(bytes_of("PROXY TCP4 10.0.0.1 10.0.0.2 1111 2222\r\n"), f);
  ASSERT_EQ(rig.net().peer_send(c, input), input.size());
  rig.settle();
  EXPECT_EQ(rig.read_all(c), f);
  EXPECT_TRUE(rig.logged("conn 10.0.0.1:1111 via proxy"));
}

TEST(ConnRules, TheDrainFinishesAFrameInProgressThenCloses) {
  auto o = options();
  o.drain_timeout = seconds(5);
  Rig rig(o);
  const auto idle = connect(rig);
  const auto busy = connect(rig);
  const auto f = frame("whole frame");
  const auto next = frame("not begun");
  ASSERT_EQ(rig.net().peer_send(busy, std::span(f).first(6)), 6U);
  rig.settle();
  rig.begin_shutdown();
  EXPECT_TRUE(closing(rig, idle)) << "no frame begun: closed at once";
  EXPECT_FALSE(closing(rig, busy));
  const auto rest = cat(std::vector<std::byte>(f.begin() + 6, f.end()), next);
  ASSERT_EQ(rig.net().peer_send(busy, rest), rest.size());
  rig.settle();
  EXPECT_TRUE(closing(rig, busy));
  EXPECT_EQ(rig.read_all(busy), f) << "the frame begun, whole; the next one not at all";
  rig.net().peer_shutdown(busy);
  rig.net().peer_shutdown(idle);
  rig.settle();
  EXPECT_TRUE(rig.done());
  EXPECT_EQ(rig.exit_code(), 0);
}

TEST(ConnRules, TheDrainTimeoutClosesWhatIsLeft) {
  auto o = options();
  o.drain_timeout = seconds(2);
  Rig rig(o);
  const auto c = connect(rig);
  ASSERT_EQ(rig.net().peer_send(c, prefix(frame("never finished"), 6)), 6U);
  rig.settle();
  rig.begin_shutdown();
  rig.advance(milliseconds(1999));
  EXPECT_FALSE(rig.done());
  rig.advance(milliseconds(1));
  EXPECT_TRUE(rig.done());
  EXPECT_TRUE(rig.logged("drain timeout 2000ms expired: force-closing 1 connection(s)"));
}

TEST(ConnRules, DrainTimeoutZeroClosesEverythingAtOnce) {
  auto o = options();
  o.drain_timeout = milliseconds(0);
  Rig rig(o);
  const auto c = connect(rig);
  ASSERT_EQ(rig.net().peer_send(c, prefix(frame("begun"), 6)), 6U);
  rig.settle();
  rig.begin_shutdown();
  EXPECT_TRUE(rig.done());
  EXPECT_TRUE(rig.net().conn(c).server_closed);
}

TEST(ConnRules, TheDrainAcceptsTheQueueAndClosesThoseConnectionsCleanly) {
  Rig rig(options());
  // Accepting is on, but the queue fills between turns.
  const auto a = rig.net().connect();
  const auto b = rig.net().connect();
  ASSERT_EQ(rig.net().queued(), 2U);
  rig.begin_shutdown();
  EXPECT_EQ(rig.net().queued(), 0U);
  EXPECT_FALSE(rig.net().conn(a).server_rst);
  EXPECT_FALSE(rig.net().conn(b).server_rst);
  EXPECT_TRUE(closing(rig, a));
  EXPECT_EQ(rig.net().conn(rig.net().connect()).phase, SimConn::Phase::refused);
}

TEST(ConnRules, TheConnectionLimitRefusesAndFreesSlots) {
  auto o = options();
  o.max_conns = 2;
  Rig rig(o);
  const auto a = connect(rig);
  (void)connect(rig);
  const auto third = rig.net().connect();
  rig.settle();
  EXPECT_TRUE(rig.net().conn(third).server_closed);
  EXPECT_EQ(rig.worker().counters().refused.load(), 1U);
  rig.net().peer_shutdown(a);
  rig.settle();
  ASSERT_TRUE(rig.net().conn(a).server_closed);
  const auto fourth = connect(rig);
  EXPECT_FALSE(rig.net().conn(fourth).server_closed);
}

// A service whose replies are larger than its requests (spec §6.2: memory is
// bounded by the backlog cap plus one read, whatever the handler sends).
class BigReply final : public Handler {
 public:
  explicit BigReply(std::size_t size, Delivery delivery)
      : reply_(size, std::byte{0x42}), delivery_(delivery) {}
  [[nodiscard]] Delivery delivery() const noexcept override { return delivery_; }
  void on_frame(Connection& c, std::span<const std::byte> /*payload*/) override { answer(c); }
  void on_chunk(Connection& c, const Chunk& chunk) override {
    if (chunk.last) answer(c);
  }
  std::size_t handled = 0;
  std::size_t last_pending = 0;
  std::size_t max_pending = 0;

 private:
  void answer(Connection& c) {
    ++handled;
    c.send_frame(reply_);
    last_pending = c.pending_bytes();
    max_pending = std::max(max_pending, last_pending);
  }
  std::vector<std::byte> reply_;
  Delivery delivery_;
};

void output_is_bounded_for(Delivery delivery) {
  auto o = options();
  constexpr std::size_t kReply = 100'000;
  BigReply* service = nullptr;
  Rig rig(o, nullptr, SimOptions{}, [&](Loop&) {
    auto h = std::make_unique<BigReply>(kReply, delivery);
    service = h.get();
    return h;
  });
  const auto c = connect(rig);
  std::vector<std::byte> requests;
  for (int i = 0; i < 80; ++i) requests = cat(requests, frame("get key"));
  ASSERT_EQ(rig.net().peer_send(c, requests), requests.size());
  rig.advance(seconds(1));  // The client never reads.
  // Each reply counts at once, while the batch is still being gathered.
  EXPECT_GE(service->last_pending, kReply);
  // Reading stopped at the cap: at most the cap plus one reply is held.
  EXPECT_LE(service->max_pending, o.backlog_cap + kReply + 4);
  EXPECT_LT(service->handled, 80U);
  // Then the client reads, and every reply arrives, in order.
  std::size_t got = 0;
  for (int i = 0; i < 1000 && got < 80 * (kReply + 4); ++i) {
    got += rig.read_all(c).size();
    rig.advance(milliseconds(1));
  }
  EXPECT_EQ(got, 80 * (kReply + 4));
  EXPECT_EQ(service->handled, 80U);
}

TEST(ConnRules, OutputAHandlerQueuesCountsAtOnceAndBoundsReadingFrames) {
  output_is_bounded_for(Delivery::frames);
}

TEST(ConnRules, OutputAHandlerQueuesCountsAtOnceAndBoundsReadingChunks) {
  output_is_bounded_for(Delivery::chunks);
}

// §6.3 under backpressure: the client sends its requests and its EOF in one
// go, and the service's replies fill the output to the cap, so most
// requests (and the EOF behind them) wait. Once the client reads, every
// request is answered, and then the EOF is acted on at once: the
// connection closes without waiting for the idle timeout. (On the
// readiness transport the EOF waits in the socket; an EOF that a completion
// transport reports behind kept-back input takes Conn's deferred path,
// which this test does not reach: see mutant conn-deferred-eof-lost.)
TEST(ConnRules, AnEofBehindKeptBackInputClosesOnceEveryRequestIsAnswered) {
  auto o = options();
  o.idle_timeout = seconds(30);
  constexpr std::size_t kReply = 100'000;
  constexpr std::size_t kRequests = 40;
  BigReply* service = nullptr;
  Rig rig(o, nullptr, SimOptions{}, [&](Loop&) {
    auto h = std::make_unique<BigReply>(kReply, Delivery::frames);
    service = h.get();
    return h;
  });
  const auto c = connect(rig);
  std::vector<std::byte> requests;
  for (std::size_t i = 0; i < kRequests; ++i) requests = cat(requests, frame("get key"));
  ASSERT_EQ(rig.net().peer_send(c, requests), requests.size());
  rig.net().peer_shutdown(c);
  rig.advance(milliseconds(100));  // The client has not read yet.
  ASSERT_LT(service->handled, kRequests) << "the cap held requests back";
  std::size_t got = 0;
  for (int i = 0; i < 2000 && !rig.net().conn(c).server_closed; ++i) {
    got += rig.read_all(c).size();
    rig.advance(milliseconds(1));
  }
  got += rig.read_all(c).size();
  EXPECT_EQ(service->handled, kRequests);
  EXPECT_EQ(got, kRequests * (kReply + 4));
  EXPECT_TRUE(rig.net().conn(c).server_closed)
      << "closed within 2 s of the last reply, not at the 30 s idle timeout";
  EXPECT_FALSE(rig.net().conn(c).server_rst);
}

// §6.7 under a reconnect storm (issue 19, B1 and B2): every client that
// completes its handshake while the stop accepts the queue, or in the
// instant before the listener closes, would be reset by the close or would
// keep the stop accepting. Sealed first, the listener completes no more
// handshakes: the stop accepts exactly what was queued, resets no one.
TEST(ConnRules, TheStopAcceptsOnlyWhatWasQueuedAndResetsNoOneUnderAStorm) {
  Rng rng(7);
  SimOptions sim;
  sim.arrival_during_accept = 1.0;  // A new client at every chance.
  Rig rig(options(), &rng, sim);
  std::size_t queue_resets = 0;
  rig.net().on_queue_reset([&](std::size_t n) { queue_resets += n; });
  for (int i = 0; i < 3; ++i) (void)rig.net().connect();
  ASSERT_EQ(rig.net().queued(), 3U);
  const auto accepted_before = rig.worker().counters().accepted.load();
  rig.begin_shutdown();
  EXPECT_EQ(rig.worker().counters().accepted.load() - accepted_before, 3U)
      << "the stop accepts what was queued at the signal, and only that";
  EXPECT_EQ(queue_resets, 0U) << "no completed handshake is reset by the close";
  for (std::size_t id = 0; id < rig.net().conn_count(); ++id) {
    EXPECT_FALSE(rig.net().conn(id).server_rst) << "conn " << id;
  }
  // Those that tried meanwhile got no answer; once the listener is closed
  // their retries are refused.
  for (std::size_t id = 3; id < rig.net().conn_count(); ++id) {
    rig.net().retry(id);
    EXPECT_EQ(rig.net().conn(id).phase, SimConn::Phase::refused) << "conn " << id;
  }
}

}  // namespace
}  // namespace framed::sim
