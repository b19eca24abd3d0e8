// How framed-server closes and times out connections without destroying an
// echo it owes (spec/PROTOCOL.md §6.2-§6.7): one test per behaviour, each
// against the real binary on an ephemeral loopback port. The tests assert
// on the bytes received and on how the connection ended, never on timings.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include "backends.h"
#include "framed/encoder.h"
#include "net/socket.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

// Frame i of a stream: `size` payload bytes that differ from every other
// frame's, so a byte out of place or out of order shows.
std::vector<std::byte> numbered_frame(std::size_t i, std::size_t size) {
  std::vector<std::byte> payload(size);
  for (std::size_t k = 0; k < size; ++k) {
    payload[k] = static_cast<std::byte>((k * 131 + i * 7 + (i >> 8)) & 0xFFU);
  }
  return frame_of(payload);
}

std::vector<std::byte> numbered_stream(std::size_t frames, std::size_t size) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i < frames; ++i) {
    const auto f = numbered_frame(i, size);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

bool is_prefix(const std::vector<std::byte>& part, const std::vector<std::byte>& whole) {
  return part.size() <= whole.size() && std::equal(part.begin(), part.end(), whole.begin());
}

class Reliability : public BackendTest {
 protected:
  ServerProcess server;

  void start(std::vector<std::string> args = {}, SpawnOptions options = {}) {
    options.args.insert(options.args.begin(), {"--port", "0"});
    options.args.insert(options.args.end(), GetParam().args.begin(), GetParam().args.end());
    options.args.insert(options.args.end(), args.begin(), args.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  }

  void expect_serving() {
    auto fd = connect_local(server.port());
    ASSERT_TRUE(fd.valid()) << "cannot connect";
    const auto ping = frame_of("ping");
    EXPECT_EQ(exchange(fd.get(), ping, ping.size(), false).received, ping) << "server log:\n"
                                                                           << server.stderr_text();
  }

  // The open connections, as the counters report them after SIGUSR1.
  std::string counters_line() { return server.counters_line(); }
};

// The timing rules in real time, on one backend (see timing_cases()).
class ReliabilityTiming : public Reliability {};

// §6.2 and the linger: the frames before an oversize header are echoed in
// full even while the client keeps writing and reads slowly, and the close
// is a FIN after them, never a reset that destroys echoes in flight.
TEST_P(Reliability, OversizeWithABusySlowReaderGetsEveryEarlierFrameThenEof) {
  start({"--max-frame", "64KiB"});
  auto fd = connect_small(server.port(), 16 << 10);
  ASSERT_TRUE(fd.valid());
  const auto good = numbered_stream(160, 8U << 10U);  // 1.3 MiB.
  auto stream = good;
  const auto over = encode_header((64U << 10U) + 1U);
  stream.insert(stream.end(), over.begin(), over.end());
  SlowPeerOptions slow;
  slow.junk_after = true;  // Keeps writing after the bad header.
  slow.read_chunk = 8U << 10U;
  slow.read_interval = 16ms;  // About 500 KiB/s.
  const auto r = slow_peer(fd.get(), stream, slow);
  EXPECT_EQ(r.received.size(), good.size());
  EXPECT_TRUE(r.received == good) << "the echo differs from the frames sent";
  EXPECT_TRUE(r.eof) << "expected the server's FIN after the echoes; reset " << r.reset
                     << ", timed out " << r.timed_out << "\n"
                     << server.stderr_text();
  expect_serving();
}

// §6.7: a client pipelining while it reads slowly when SIGINT arrives gets
// whole frames only, then a FIN, and the server exits 0.
TEST_P(Reliability, DrainWithAPipeliningSlowReaderDeliversWholeFramesOnly) {
  start({"--drain-timeout", "20s"});
  auto fd = connect_small(server.port(), 16 << 10);
  ASSERT_TRUE(fd.valid());
  constexpr std::size_t kSize = 8U << 10U;
  const auto stream = numbered_stream(1000, kSize);  // 8 MiB.
  bool signalled = false;
  SlowPeerOptions slow;
  slow.junk_after = true;  // It never stops sending.
  slow.read_chunk = 16U << 10U;
  slow.read_interval = 16ms;
  slow.on_read = [&](std::size_t got) {
    if (!signalled && got >= (256U << 10U)) {
      server.send_signal(SIGINT);
      signalled = true;
    }
  };
  const auto r = slow_peer(fd.get(), stream, slow);
  ASSERT_TRUE(signalled);
  EXPECT_TRUE(is_prefix(r.received, stream)) << "the echo differs from the frames sent";
  EXPECT_EQ(r.received.size() % (kSize + kHeaderSize), 0U)
      << "a frame was cut: " << r.received.size() << " bytes";
  EXPECT_GT(r.received.size(), 256U << 10U);
  EXPECT_TRUE(r.eof) << "reset " << r.reset << ", timed out " << r.timed_out << "\n"
                     << server.stderr_text();
  const auto status = server.wait_exit(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 0);
}

// §6.4: the idle timeout counts bytes moving either way, and the peer
// reading its echoes is movement even when the server has nothing to do.
TEST_P(ReliabilityTiming, IdleTimeoutSparesASteadySlowReader) {
  start({"--idle-timeout", "1s"});
  auto fd = connect_small(server.port(), 16 << 10);
  ASSERT_TRUE(fd.valid());
  const auto stream = numbered_stream(256, 8U << 10U);  // 2 MiB.
  SlowPeerOptions slow;
  slow.read_chunk = 16U << 10U;
  slow.read_interval = 16ms;  // About 1 MiB/s, never a gap near 1 s.
  slow.expect = stream.size();
  const auto r = slow_peer(fd.get(), stream, slow);
  EXPECT_EQ(r.received.size(), stream.size()) << server.stderr_text();
  EXPECT_TRUE(r.received == stream);
  EXPECT_FALSE(r.eof || r.reset) << server.stderr_text();
  EXPECT_EQ(server.stderr_text().find("idle timeout"), std::string::npos) << server.stderr_text();
}

// §6.4 with §6.8: an idle timeout that fires while echoes are queued closes
// gracefully, so a peer that reads later still gets every byte the server
// wrote, then a FIN, never a reset that destroys them.
TEST_P(ReliabilityTiming, AnIdleTimeoutNeverDestroysEchoesAlreadyWritten) {
  start({"--idle-timeout", "500ms", "--linger-timeout", "10s"});
  auto fd = connect_small(server.port(), 16 << 10);
  ASSERT_TRUE(fd.valid());
  // More than the server's buffers and backlog absorb (megabytes), so its
  // input is unread when the timeout fires: a plain close() would reset.
  const auto stream = numbered_stream(1600, 8U << 10U);  // 13 MiB.
  // Send without reading until nothing moves, for longer than the timeout.
  (void)write_all(fd.get(), stream, 1'500ms);
  ASSERT_TRUE(server.wait_for_log("idle timeout 500ms", 10s)) << server.stderr_text();
  // Now read everything: what the server wrote must all be there.
  const auto ex = read_until_close(fd.get(), 10'000ms);
  EXPECT_TRUE(ex.eof && !ex.reset) << "eof " << ex.eof << " reset " << ex.reset;
  EXPECT_TRUE(is_prefix(ex.received, stream));
  const std::string line = counters_line();
  const auto at = line.find("bytes echoed ");
  ASSERT_NE(at, std::string::npos) << line;
  EXPECT_EQ(ex.received.size(), std::stoull(line.substr(at + 13)))
      << "bytes the server counted as written never arrived";
}

// §6.5: the frame timeout measures the peer; it does not run while the
// server itself has stopped reading for backpressure.
TEST_P(ReliabilityTiming, LargeFrameReadSlowlyCompletesUnderTheFrameTimeout) {
  start({"--frame-timeout", "1s"});
  auto fd = connect_small(server.port(), 16 << 10);
  ASSERT_TRUE(fd.valid());
  // Larger than what the socket buffers and the backlog absorb, so the
  // server stops reading for backpressure (more than 1 s at a time, while
  // the peer drains megabytes of echo) with the frame incomplete.
  const auto stream = numbered_frame(1, 6U << 20U);
  SlowPeerOptions slow;
  slow.read_chunk = 16U << 10U;
  slow.read_interval = 16ms;  // About 1 MiB/s.
  slow.expect = stream.size();
  const auto r = slow_peer(fd.get(), stream, slow);
  EXPECT_EQ(r.received.size(), stream.size()) << server.stderr_text();
  EXPECT_TRUE(r.received == stream);
  EXPECT_EQ(server.stderr_text().find("frame timeout"), std::string::npos) << server.stderr_text();
}

// §6.1 under load: while a backlog is queued and the socket turns writable,
// new echoes wait behind it. Every byte arrives, in order.
TEST_P(Reliability, EchoOrderHoldsWhileABacklogDrains) {
  start();
  auto fd = connect_small(server.port(), 32 << 10);
  ASSERT_TRUE(fd.valid());
  // Far more than the server's send buffer (which grows to megabytes) and
  // its backlog cap together, so the backlog fills and drains many times
  // while new input keeps arriving: wake-ups with both readable and
  // writable sockets and a non-empty backlog are the common case.
  std::vector<std::byte> stream;
  for (std::size_t i = 0; stream.size() < (16U << 20U); ++i) {
    const auto f = numbered_frame(i, 1 + (i * 997) % 4000);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  SlowPeerOptions slow;
  slow.read_chunk = 64U << 10U;
  slow.read_interval = 1ms;
  slow.expect = stream.size();
  const auto r = slow_peer(fd.get(), stream, slow);
  ASSERT_EQ(r.received.size(), stream.size());
  const auto diff = std::mismatch(r.received.begin(), r.received.end(), stream.begin());
  EXPECT_TRUE(diff.first == r.received.end())
      << "first difference at byte " << (diff.first - r.received.begin());
}

// §6.3 at every offset: when the input ends, the echo is exactly the input,
// a bare header and 1-3 header bytes included, then the server closes.
TEST_P(Reliability, EchoStopsWhereTheInputStoppedAtEveryOffset) {
  start();
  auto stream = frame_of("hello");
  const auto second = frame_of("0123456789");
  stream.insert(stream.end(), second.begin(), second.end());
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    auto fd = connect_local(server.port());
    ASSERT_TRUE(fd.valid());
    const std::span<const std::byte> sent(stream.data(), cut);
    const auto ex = exchange(fd.get(), sent, SIZE_MAX, true);
    EXPECT_TRUE(std::equal(ex.received.begin(), ex.received.end(), sent.begin(), sent.end()))
        << "cut at " << cut << ": got " << ex.received.size() << " bytes";
    EXPECT_TRUE(ex.eof) << "cut at " << cut;
  }
  expect_serving();
}

// The oversize log line names the peer, so an operator can find it.
TEST_P(Reliability, OversizeLogNamesThePeer) {
  start({"--max-frame", "10"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  net::Endpoint local;
  ASSERT_TRUE(net::local_endpoint(fd.get(), local).ok());
  const auto ex = exchange(fd.get(), encode_header(11), SIZE_MAX, false);
  EXPECT_TRUE(ex.eof);
  EXPECT_TRUE(server.wait_for_log("conn " + local.to_string() + " closing: protocol error", 5s))
      << "want the peer " << local.to_string() << " in:\n"
      << server.stderr_text();
}

// --max-frame 0 accepts empty frames only.
TEST_P(Reliability, MaxFrameZeroEchoesEmptyFramesAndRefusesOneByte) {
  start({"--max-frame", "0"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto empty = frame_of("");
  std::vector<std::byte> good = empty;
  good.insert(good.end(), empty.begin(), empty.end());
  auto stream = good;
  const auto one = frame_of("x");
  stream.insert(stream.end(), one.begin(), one.end());
  const auto ex = exchange(fd.get(), stream, SIZE_MAX, false);
  EXPECT_TRUE(ex.received == good) << ex.received.size() << " bytes";
  EXPECT_TRUE(ex.eof);
  EXPECT_TRUE(server.wait_for_log("length 1 > limit 0", 5s)) << server.stderr_text();
}

// A peer that stops reading after a protocol error, with echoes still owed,
// is dropped once it has acknowledged nothing for --linger-timeout.
TEST_P(ReliabilityTiming, ClosingPeerThatNeverReadsIsDropped) {
  start({"--linger-timeout", "300ms", "--idle-timeout", "0", "--max-frame", "64KiB"});
  auto fd = connect_small(server.port(), 4 << 10);
  ASSERT_TRUE(fd.valid());
  // Enough echo to fill the tiny window and the server's send buffer, but
  // under the backlog cap, so the server reads on to the bad header.
  auto stream = numbered_stream(20, 8U << 10U);
  const auto over = encode_header((64U << 10U) + 1U);
  stream.insert(stream.end(), over.begin(), over.end());
  ASSERT_TRUE(write_all(fd.get(), stream));
  EXPECT_TRUE(server.wait_for_log("acknowledged nothing for 300ms while closing", 10s))
      << server.stderr_text();
  EXPECT_NE(counters_line().find("open 0"), std::string::npos) << server.stderr_text();
}

// A drain ends as soon as every peer has all its echoes: lingering
// connections whose peers acknowledged everything close at once, however
// long --linger-timeout and --drain-timeout are.
TEST_P(Reliability, DrainEndsOnceEveryEchoIsDelivered) {
  start({"--linger-timeout", "60s", "--linger-time", "60s", "--drain-timeout", "60s"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto ping = frame_of("ping");
  ASSERT_EQ(exchange(fd.get(), ping, ping.size(), false).received, ping);
  server.send_signal(SIGINT);
  // The client reads nothing more and keeps its socket open.
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "the drain waited on a peer that had everything\n"
                                  << server.stderr_text();
  EXPECT_EQ(status->code, 0);
  EXPECT_TRUE(read_until_close(fd.get(), 1'000ms).eof);
}

// --linger-time bounds a close that keeps making slow progress: the server
// gives up the connection (the kernel may still deliver what it holds).
TEST_P(ReliabilityTiming, LingerTimeBoundsASlowClose) {
  start({"--linger-time", "1s", "--linger-timeout", "60s", "--max-frame", "64KiB"});
  auto fd = connect_small(server.port(), 16 << 10);
  ASSERT_TRUE(fd.valid());
  auto stream = numbered_stream(200, 8U << 10U);
  const auto over = encode_header((64U << 10U) + 1U);
  stream.insert(stream.end(), over.begin(), over.end());
  SlowPeerOptions slow;
  slow.read_chunk = 1U << 10U;
  slow.read_interval = 20ms;  // 50 KiB/s: megabytes would take a minute.
  slow.timeout = 4s;
  const auto r = slow_peer(fd.get(), stream, slow);
  EXPECT_TRUE(is_prefix(r.received, stream));
  EXPECT_TRUE(server.wait_for_log("after closing began (--linger-time)", 5s))
      << server.stderr_text();
  EXPECT_NE(counters_line().find("open 0"), std::string::npos) << server.stderr_text();
}

// The idle clock moves on reads alone: header bytes that produce no echo
// yet still count as activity.
TEST_P(ReliabilityTiming, IdleClockCountsReadsThatProduceNoEcho) {
  start({"--idle-timeout", "900ms", "--frame-timeout", "0"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto frame = frame_of("abc");
  // Header bytes 400 ms apart: over 900 ms pass before the first echo.
  for (std::size_t i = 0; i < kHeaderSize; ++i) {
    std::this_thread::sleep_for(400ms);
    ASSERT_TRUE(write_all(fd.get(), std::span(frame).subspan(i, 1)));
  }
  const auto ex = exchange(fd.get(), std::span(frame).subspan(kHeaderSize), frame.size(), false);
  EXPECT_TRUE(ex.received == frame) << server.stderr_text();
  EXPECT_FALSE(ex.eof || ex.reset);
}

// A connection that was active, then falls silent, is still closed by the
// idle timeout: its timer is re-armed, not dropped, when activity moves it.
TEST_P(ReliabilityTiming, IdleTimeoutClosesAConnectionThatFellSilent) {
  start({"--idle-timeout", "500ms"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto ping = frame_of("ping");
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(exchange(fd.get(), ping, ping.size(), false).received, ping);
    std::this_thread::sleep_for(200ms);
  }
  const auto ex = read_until_close(fd.get(), 10'000ms);
  EXPECT_TRUE(ex.eof) << server.stderr_text();
  EXPECT_TRUE(server.wait_for_log("idle timeout 500ms", 5s)) << server.stderr_text();
}

// Idle 0 and frame 0 disable the timeouts.
TEST_P(ReliabilityTiming, ZeroDisablesBothTimeouts) {
  start({"--idle-timeout", "0", "--frame-timeout", "0"});
  auto silent = connect_local(server.port());
  auto partial = connect_local(server.port());
  ASSERT_TRUE(silent.valid() && partial.valid());
  const auto frame = frame_of("complete me");
  ASSERT_TRUE(write_all(partial.get(), std::span(frame).first(6)));
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(read_until_close(silent.get(), 10ms).eof);
  const auto ex = exchange(partial.get(), std::span(frame).subspan(6), frame.size(), false);
  EXPECT_TRUE(ex.received == frame);
  const auto ping = frame_of("ping");
  EXPECT_EQ(exchange(silent.get(), ping, ping.size(), false).received, ping);
  EXPECT_EQ(server.stderr_text().find("timeout"), std::string::npos) << server.stderr_text();
}

// The frame timer stops when a frame ends: a connection idle between
// frames is not cut by the frame timeout.
TEST_P(ReliabilityTiming, FrameTimerStopsAtTheEndOfAFrame) {
  start({"--frame-timeout", "300ms", "--idle-timeout", "0"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto ping = frame_of("ping");
  ASSERT_EQ(exchange(fd.get(), ping, ping.size(), false).received, ping);
  std::this_thread::sleep_for(1200ms);
  EXPECT_EQ(exchange(fd.get(), ping, ping.size(), false).received, ping) << server.stderr_text();
}

// One read that ends a frame and begins the next restarts the frame timer
// for the new frame.
TEST_P(ReliabilityTiming, FrameTimerRestartsWhenOneReadEndsAFrameAndBeginsTheNext) {
  start({"--frame-timeout", "1500ms", "--idle-timeout", "0"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  auto stream = frame_of("first frame");
  const auto second = frame_of("second frame");
  stream.insert(stream.end(), second.begin(), second.end());
  const std::size_t a = 8;           // Inside the first frame.
  const std::size_t b = 15 + 4 + 3;  // Inside the second frame.
  ASSERT_TRUE(write_all(fd.get(), std::span(stream).first(a)));
  std::this_thread::sleep_for(1000ms);
  ASSERT_TRUE(write_all(fd.get(), std::span(stream).subspan(a, b - a)));
  std::this_thread::sleep_for(1000ms);  // The second frame is 1 s old.
  const auto ex = exchange(fd.get(), std::span(stream).subspan(b), stream.size(), false);
  EXPECT_TRUE(ex.received == stream) << ex.received.size() << " bytes\n" << server.stderr_text();
  EXPECT_EQ(server.stderr_text().find("frame timeout"), std::string::npos) << server.stderr_text();
}

// The frame timeout counts from the frame's first byte: trickling bytes do
// not restart it. A byte every 50 ms against 300 ms: cut after about six.
TEST_P(ReliabilityTiming, FrameTimeoutIsNotRestartedByTricklingBytes) {
  start({"--frame-timeout", "300ms", "--idle-timeout", "0"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(write_all(fd.get(), encode_header(1000)));
  int trickled = 0;
  bool closed = false;
  for (; trickled < 200 && !closed; ++trickled) {
    const std::byte b{1};
    if (!write_all(fd.get(), std::span(&b, 1), 1'000ms)) break;
    const auto ex = exchange(fd.get(), {}, SIZE_MAX, false, 50ms);
    closed = ex.eof || ex.reset;
  }
  EXPECT_TRUE(closed || trickled < 200);
  // Generous for a loaded machine, far below what a timer restarted on
  // every byte would allow (never).
  EXPECT_LT(trickled, 60) << server.stderr_text();
  EXPECT_TRUE(server.wait_for_log("frame timeout", 5s)) << server.stderr_text();
}

// §6.7 and the listen queue: a client whose connection completed just
// before SIGINT gets a clean close (FIN), not a reset.
TEST_P(Reliability, ClientConnectedJustBeforeSigintGetsACleanClose) {
  start();
  std::vector<net::UniqueFd> late;
  // SIGSTOP keeps the server from accepting: the kernel queues these.
  server.send_signal(SIGSTOP);
  for (int i = 0; i < 5; ++i) {
    late.push_back(connect_local(server.port()));
    ASSERT_TRUE(late.back().valid());
    ASSERT_TRUE(write_all(late.back().get(), frame_of("queued")));
  }
  server.send_signal(SIGINT);
  server.send_signal(SIGCONT);
  for (auto& fd : late) {
    const auto ex = read_until_close(fd.get(), 10'000ms);
    EXPECT_TRUE(ex.eof && !ex.reset) << "eof " << ex.eof << " reset " << ex.reset << "\n"
                                     << server.stderr_text();
    // Either its echo or nothing, but never a part of it.
    const auto want = frame_of("queued");
    EXPECT_TRUE(ex.received.empty() || ex.received == want);
  }
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0);
}

// What each storm client saw: refused (or no answer) by the kernel, served
// and closed cleanly (EOF), or reset after its handshake completed.
struct StormCounts {
  std::atomic<int> connected{0};
  std::atomic<int> clean{0};
  std::atomic<int> reset{0};
  std::atomic<int> refused{0};
};

// One client of a reconnect storm: connects, sends nothing, waits a moment
// for the server to close, then hangs up itself and reconnects; it counts
// how each connection ended.
void storm_client(std::uint16_t port, const std::atomic<bool>& stop, StormCounts& counts) {
  while (!stop.load()) {
    net::Endpoint ep;
    std::vector<net::Endpoint> eps;
    std::string detail;
    if (!net::resolve("127.0.0.1", port, false, eps, detail).ok()) return;
    net::UniqueFd fd;
    if (!net::connect_to(eps.front(), fd).ok()) {
      ++counts.refused;
      continue;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, 1500) != 1 || !net::connect_result(fd.get()).ok()) {
      ++counts.refused;  // Refused, or no answer while the listener was sealed.
      continue;
    }
    ++counts.connected;
    p = {fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 20) != 1) continue;  // Still open: served; hang up and reconnect.
    char buf[64];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) {
      ++counts.clean;
    } else if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) {
      ++counts.reset;
    }
  }
}

// §6.7 under a reconnect storm: the stop accepts what was queued, closes the
// listener at once, and never resets a connection whose handshake
// completed; a client mid-frame still gets its echo, and the process exits
// within the drain timeout (plus half a second), however hard the storm
// keeps connecting.
TEST_P(Reliability, StopUnderAReconnectStormResetsNoOneAndEndsInTime) {
  start({"--drain-timeout", "1s"});
  auto mid = connect_local(server.port());
  ASSERT_TRUE(mid.valid());
  const auto frame = numbered_frame(1, 1000);
  ASSERT_TRUE(write_all(mid.get(), std::span(frame).first(500)));
  StormCounts counts;
  std::atomic<bool> stop{false};
  std::vector<std::thread> storm;
  for (int i = 0; i < 6; ++i) {
    storm.emplace_back([&] { storm_client(server.port(), stop, counts); });
  }
  std::this_thread::sleep_for(300ms);
  const auto signalled = std::chrono::steady_clock::now();
  server.send_signal(SIGINT);
  ASSERT_TRUE(write_all(mid.get(), std::span(frame).subspan(500)));
  const Exchange ex = read_until_close(mid.get(), 3000ms);
  const auto status = server.wait_exit(5s);
  const auto took = std::chrono::steady_clock::now() - signalled;
  stop = true;
  for (auto& t : storm) t.join();
  EXPECT_EQ(ex.received, frame) << "the frame in progress at the signal is echoed whole";
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0) << server.stderr_text().substr(0, 4000);
  EXPECT_LT(took, 1500ms) << "drain timeout 1 s";
  EXPECT_GT(counts.connected.load(), 0);
  EXPECT_EQ(counts.reset.load(), 0)
      << counts.connected.load() << " connected, " << counts.clean.load() << " closed cleanly, "
      << counts.refused.load() << " refused";
}

// §6.7: a drain where the frame begun is only a partial header finishes
// that frame, then closes.
TEST_P(Reliability, DrainFinishesAFrameBegunWithAPartialHeader) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto frame = frame_of("after the signal");
  ASSERT_TRUE(write_all(fd.get(), std::span(frame).first(2)));
  std::this_thread::sleep_for(200ms);
  server.send_signal(SIGINT);
  ASSERT_TRUE(server.wait_for_log("shutting down", 5s));
  auto rest = std::vector<std::byte>(frame.begin() + 2, frame.end());
  const auto extra = frame_of("not echoed");
  rest.insert(rest.end(), extra.begin(), extra.end());
  const auto ex = exchange(fd.get(), rest, SIZE_MAX, false);
  EXPECT_TRUE(ex.received == frame) << ex.received.size() << " bytes";
  EXPECT_TRUE(ex.eof);
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0);
}

TEST_P(Reliability, SigtermTwiceExitsOneAtOnce) {
  start({"--drain-timeout", "60s"});
  auto stuck = connect_local(server.port());
  ASSERT_TRUE(stuck.valid());
  ASSERT_TRUE(write_all(stuck.get(), encode_header(100)));
  std::this_thread::sleep_for(100ms);
  server.send_signal(SIGTERM);
  ASSERT_TRUE(server.wait_for_log("shutting down", 5s));
  server.send_signal(SIGTERM);
  const auto status = server.wait_exit(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 1);
}

// SIGINT and SIGTERM pending together (sent while the server was stopped,
// so it takes both at once) are one request to drain, not a second signal:
// a service manager and a terminal may both ask at the same moment.
TEST_P(Reliability, SigintAndSigtermPendingTogetherAreOneRequest) {
  start({"--drain-timeout", "60s"});
  auto idle = connect_local(server.port());
  ASSERT_TRUE(idle.valid());
  server.send_signal(SIGSTOP);
  server.send_signal(SIGINT);
  server.send_signal(SIGTERM);
  server.send_signal(SIGCONT);
  ASSERT_TRUE(server.wait_for_log("shutting down", 5s)) << server.stderr_text();
  const Exchange ex = read_until_close(idle.get(), 5s);
  EXPECT_TRUE(ex.eof) << "the idle connection is closed cleanly by the drain";
  const auto status = server.wait_exit(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0) << server.stderr_text();
  EXPECT_EQ(server.stderr_text().find("second signal"), std::string::npos) << server.stderr_text();
}

// --drain-timeout 0: every connection is closed at once and the server
// exits 0.
TEST_P(Reliability, DrainTimeoutZeroClosesEverythingAtOnce) {
  start({"--drain-timeout", "0"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(write_all(fd.get(), encode_header(100)));
  std::this_thread::sleep_for(100ms);
  server.send_signal(SIGINT);
  const auto status = server.wait_exit(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0);
  const auto ex = read_until_close(fd.get(), 5'000ms);
  EXPECT_TRUE(ex.eof || ex.reset);
}

// A flood of SIGUSR1 does not hide a SIGTERM behind it.
TEST_P(Reliability, SigtermAfterASigusr1FloodStillDrains) {
  start();
  for (int i = 0; i < 2000; ++i) server.send_signal(SIGUSR1);
  server.send_signal(SIGTERM);
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << server.stderr_text();
  EXPECT_EQ(status->code, 0);
}

// The counters count frames written, not frames decoded: a client that
// resets with echoes still queued is not counted for them.
TEST_P(Reliability, FramesEchoedCountsFramesWrittenWhole) {
  start();
  constexpr std::size_t kSize = 1000;
  {
    auto fd = connect_small(server.port(), 4 << 10);
    ASSERT_TRUE(fd.valid());
    const auto stream = numbered_stream(8000, kSize);
    // Send a lot, read nothing: the server decodes far more than it can
    // write. Then reset, so the queued echoes are never written.
    (void)write_all(fd.get(), stream, 2'000ms);
    std::this_thread::sleep_for(200ms);
    linger lin{1, 0};
    ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lin, sizeof lin), 0);
  }
  ASSERT_TRUE(server.wait_for_log("Connection reset by peer", 5s)) << server.stderr_text();
  const std::string line = counters_line();
  const auto frames_at = line.find("frames echoed ");
  const auto bytes_at = line.find("bytes echoed ");
  ASSERT_NE(frames_at, std::string::npos) << line;
  ASSERT_NE(bytes_at, std::string::npos) << line;
  const auto frames = std::stoull(line.substr(frames_at + 14));
  const auto bytes = std::stoull(line.substr(bytes_at + 13));
  EXPECT_GT(bytes, 0U);
  EXPECT_EQ(frames, bytes / (kSize + kHeaderSize)) << line;
}

// read(2) and sendmsg(2) interrupted by signals (EINTR every other call,
// injected by a preloaded shim) are retried: nothing is lost or closed.
TEST_P(Reliability, InterruptedReadsAndWritesAreRetried) {
  SpawnOptions options;
  options.env = {std::string("LD_PRELOAD=") + FRAMED_EINTR_SHIM_PATH, "FRAMED_EINTR_EVERY=2"};
#ifdef FRAMED_ASAN
  options.env.emplace_back("ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1");
#endif
  start({}, options);
  ASSERT_TRUE(server.wait_for_log("eintr shim: active", 5s)) << server.stderr_text();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> stream;
  for (std::size_t i = 0; i < 200; ++i) {
    const auto f = numbered_frame(i, i * 521 % 20000);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  const auto ex = exchange(fd.get(), stream, stream.size(), false);
  EXPECT_EQ(ex.received.size(), stream.size()) << server.stderr_text();
  EXPECT_TRUE(ex.received == stream);
  EXPECT_FALSE(ex.eof || ex.reset) << server.stderr_text();
}

// A worker whose loop fails (its wait returns an error) stops the whole
// server with exit 1, rather than leaving part of the connections unserved.
TEST(WorkerFailure, AFailedWorkerStopsTheServerWithExitOne) {
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--port", "0", "--backend", "epoll", "--workers", "2"};
  options.env = {std::string("LD_PRELOAD=") + FRAMED_EINTR_SHIM_PATH, "FRAMED_EINTR_EVERY=0",
                 "FRAMED_FAIL_EPOLL_WAIT=6"};
#ifdef FRAMED_ASAN
  options.env.emplace_back("ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1");
#endif
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  // Connections wake the workers until the sixth wait fails (however the
  // kernel batches their events), for 10 s at most.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  std::optional<ExitStatus> status;
  while (!(status = server.wait_exit(0ms)) && std::chrono::steady_clock::now() < give_up) {
    auto fd = connect_local(server.port(), "127.0.0.1", 500ms);
    const auto ping = frame_of("ping");
    if (fd.valid()) (void)exchange(fd.get(), ping, ping.size(), false, 500ms);
  }
  if (!status) status = server.wait_exit(5s);
  ASSERT_TRUE(status.has_value()) << "still running with a dead worker\n" << server.stderr_text();
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 1);
  EXPECT_NE(server.stderr_text().find("epoll_wait: Bad file descriptor"), std::string::npos)
      << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("a worker failed; stopping every worker"), std::string::npos)
      << server.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Timing, ReliabilityTiming, ::testing::ValuesIn(timing_cases()),
                         backend_case_name);
INSTANTIATE_TEST_SUITE_P(Backends, Reliability, ::testing::ValuesIn(backend_cases()),
                         backend_case_name);

}  // namespace
}  // namespace framed::test
