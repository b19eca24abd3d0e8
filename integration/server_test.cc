// One test per server behaviour, each against the real framed-server binary
// started on an ephemeral loopback port.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <thread>

#include "backends.h"
#include "client/echo_client.h"
#include "framed/encoder.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> pattern_payload(std::size_t size, std::size_t salt) {
  std::vector<std::byte> out(size);
  for (std::size_t k = 0; k < size; ++k) out[k] = static_cast<std::byte>((k * 31 + salt) & 0xFFU);
  return out;
}

class Server : public BackendTest {
 protected:
  ServerProcess server;

  void start(std::vector<std::string> args = {}, SpawnOptions options = {}) {
    options.args = {"--port", "0"};
    options.args.insert(options.args.end(), GetParam().args.begin(), GetParam().args.end());
    options.args.insert(options.args.end(), args.begin(), args.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  }

  // Proves the server is alive and serving: a fresh connection gets an echo.
  void expect_serving(const std::string& host = "127.0.0.1") {
    auto fd = connect_local(server.port(), host);
    ASSERT_TRUE(fd.valid()) << "cannot connect";
    const auto ping = frame_of("ping");
    const auto ex = exchange(fd.get(), ping, ping.size(), false);
    EXPECT_EQ(ex.received, ping) << "server log:\n" << server.stderr_text();
  }

  // Descriptors reserved beyond the first worker's: each further worker has
  // a listener, an epoll, an eventfd and a spare.
  [[nodiscard]] int extra_worker_fds() const {
    const auto& a = GetParam().args;
    for (std::size_t i = 0; i + 1 < a.size(); ++i) {
      if (a[i] == "--workers") return 4 * (std::stoi(a[i + 1]) - 1);
    }
    return 0;
  }

  void expect_running() {
    EXPECT_FALSE(server.wait_exit(0ms).has_value()) << "server died; log:\n"
                                                    << server.stderr_text();
  }
};

// The timing rules in real time, on one backend (see timing_cases()).
class ServerTiming : public Server {};

TEST_P(Server, EchoesFramesOfEverySizeFromZeroTo16MiB) {
  start();
  const std::vector<std::size_t> sizes{0,   1,    2,     3,     4,         5,
                                       100, 4096, 65535, 65536, 1U << 20U, 16U << 20U};
  client::EchoOptions options;
  options.window = 3;
  const auto r = client::run_echo(
      "127.0.0.1", server.port(), sizes.size(),
      [&](std::size_t i, std::vector<std::byte>& out) { out = pattern_payload(sizes[i], i); },
      options);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.frames_verified, sizes.size());
}

TEST_P(Server, EchoesWhenTheClientWritesOneByteAtATime) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> stream;
  for (std::size_t size : {0U, 5U, 300U, 1U}) {
    const auto f = frame_of(pattern_payload(size, size));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (std::byte b : stream) ASSERT_TRUE(write_all(fd.get(), std::span(&b, 1)));
  const auto ex = exchange(fd.get(), {}, stream.size(), false);
  EXPECT_EQ(ex.received, stream);
}

TEST_P(Server, EchoesTwoThousandPipelinedFramesSentInOneWrite) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> stream;
  for (std::size_t i = 0; i < 2000; ++i) {
    const auto f = frame_of(pattern_payload(i % 50, i));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  const auto ex = exchange(fd.get(), stream, stream.size(), false);
  EXPECT_EQ(ex.received.size(), stream.size());
  EXPECT_TRUE(ex.received == stream);
}

TEST_P(Server, OversizeFrameEchoesEarlierFramesThenClosesOnlyThatConnection) {
  start({"--max-frame", "1KiB"});
  auto neighbour = connect_local(server.port());
  ASSERT_TRUE(neighbour.valid());
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());

  std::vector<std::byte> good = frame_of("a");
  const auto at_limit = frame_of(pattern_payload(1024, 9));
  good.insert(good.end(), at_limit.begin(), at_limit.end());
  std::vector<std::byte> stream = good;
  const auto over = encode_header(1025);
  stream.insert(stream.end(), over.begin(), over.end());
  // Far more than one read: input is still unread when the server closes,
  // which is when a plain close() would reset the echoes away.
  stream.insert(stream.end(), 4U << 20U, std::byte{7});

  const auto ex = exchange(fd.get(), stream, SIZE_MAX, false);
  EXPECT_TRUE(ex.received == good)
      << "got " << ex.received.size() << " bytes, want " << good.size();
  EXPECT_TRUE(ex.eof) << "the echoes must arrive before an orderly close, not a reset";
  EXPECT_TRUE(
      server.wait_for_log("frame_too_large (length 1025 > limit 1024, header 00 00 04 01)", 5s))
      << server.stderr_text();

  const auto ping = frame_of("still here");
  EXPECT_EQ(exchange(neighbour.get(), ping, ping.size(), false).received, ping);
  expect_serving();
}

TEST_P(Server, MaximumLengthHeaderAllocatesNothing) {
  // With the limit at 4 GiB - 1 the length is legal, so the server must
  // stream it rather than reserve room for it.
  start({"--max-frame", "4294967295"});
  const long rss_before = server.rss_kib();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> stream(4, std::byte{0xFF});
  const auto body = pattern_payload(1U << 20U, 3);
  stream.insert(stream.end(), body.begin(), body.end());
  const auto ex = exchange(fd.get(), stream, stream.size(), false);
  EXPECT_TRUE(ex.received == stream) << "streamed echo of the partial frame";
  const long growth = server.rss_kib() - rss_before;
  EXPECT_LT(growth, 32 * 1024) << "server RSS grew by " << growth << " KiB";
  expect_running();
}

TEST_P(Server, LengthFFFFFFFFOverTheDefaultLimitIsRefusedWithoutAllocating) {
  start();
  const long rss_before = server.rss_kib();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> stream(4, std::byte{0xFF});
  const auto ex = exchange(fd.get(), stream, SIZE_MAX, false);
  EXPECT_TRUE(ex.received.empty());
  EXPECT_TRUE(ex.eof);
  EXPECT_LT(server.rss_kib() - rss_before, 32 * 1024);
  EXPECT_TRUE(server.wait_for_log("header ff ff ff ff", 5s)) << server.stderr_text();
  expect_serving();
}

TEST_P(Server, GarbageBytesCloseTheConnectionWithALogLine) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto http = bytes_of("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const auto ex = exchange(fd.get(), http, SIZE_MAX, false);
  EXPECT_TRUE(ex.received.empty());
  EXPECT_TRUE(ex.eof || ex.reset);
  EXPECT_TRUE(server.wait_for_log("header 47 45 54 20", 5s)) << server.stderr_text();
  expect_serving();
}

TEST_P(Server, ResetInTheMiddleOfAFrameIsHandled) {
  start();
  {
    auto fd = connect_local(server.port());
    ASSERT_TRUE(fd.valid());
    std::vector<std::byte> partial = frame_of(pattern_payload(1000, 1));
    partial.resize(100);
    ASSERT_TRUE(write_all(fd.get(), partial));
    std::this_thread::sleep_for(100ms);
    linger lin{1, 0};  // Close with RST.
    ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lin, sizeof lin), 0);
  }
  expect_serving();
  expect_running();
}

TEST_P(Server, PeerClosingWithoutReadingIsHandled) {
  start();
  {
    auto fd = connect_local(server.port());
    ASSERT_TRUE(fd.valid());
    std::vector<std::byte> stream;
    for (int i = 0; i < 2000; ++i) {
      const auto f = frame_of(pattern_payload(1000, static_cast<std::size_t>(i)));
      stream.insert(stream.end(), f.begin(), f.end());
    }
    // Send a lot, read nothing, close: the server's writes hit a dead peer.
    (void)write_all(fd.get(), stream, 2'000ms);
  }
  std::this_thread::sleep_for(200ms);
  expect_serving();
  expect_running();
}

TEST_P(Server, HalfCloseGetsEveryFrameEchoedThenAClose) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> stream;
  for (std::size_t i = 0; i < 100; ++i) {
    const auto f = frame_of(pattern_payload(i * 100, i));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  const auto ex = exchange(fd.get(), stream, SIZE_MAX, true);
  EXPECT_TRUE(ex.received == stream) << ex.received.size() << " of " << stream.size();
  EXPECT_TRUE(ex.eof);
}

TEST_P(Server, EndOfInputMidFrameEchoesWhatArrivedThenCloses) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> stream = frame_of("abc");
  const auto cut = encode_header(10);
  stream.insert(stream.end(), cut.begin(), cut.end());
  const auto five = bytes_of("12345");
  stream.insert(stream.end(), five.begin(), five.end());
  const auto ex = exchange(fd.get(), stream, SIZE_MAX, true);
  EXPECT_TRUE(ex.received == stream) << "the echo stops where the input stopped";
  EXPECT_TRUE(ex.eof);
  EXPECT_TRUE(server.wait_for_log("peer closed mid-frame", 5s)) << server.stderr_text();
}

TEST_P(ServerTiming, IdleTimeoutClosesASilentConnectionButNotABusyOne) {
  start({"--idle-timeout", "600ms"});
  auto silent = connect_local(server.port());
  auto busy = connect_local(server.port());
  ASSERT_TRUE(silent.valid() && busy.valid());
  const auto ping = frame_of("ping");
  // 12 x 100 ms: twice the idle timeout, with 500 ms of slack per gap for a
  // loaded machine.
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(exchange(busy.get(), ping, ping.size(), false).received, ping);
    std::this_thread::sleep_for(100ms);
  }
  const auto ex = read_until_close(silent.get(), 10'000ms);
  EXPECT_TRUE(ex.eof);
  EXPECT_FALSE(ex.timed_out);
  EXPECT_TRUE(server.wait_for_log("idle timeout 600ms", 5s)) << server.stderr_text();
  EXPECT_EQ(exchange(busy.get(), ping, ping.size(), false).received, ping);
}

TEST_P(ServerTiming, FrameTimeoutCutsAFrameThatArrivesTooSlowly) {
  start({"--frame-timeout", "300ms", "--idle-timeout", "0"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto ok = frame_of("ok");
  std::vector<std::byte> start_bytes = ok;
  const auto header = encode_header(100);
  start_bytes.insert(start_bytes.end(), header.begin(), header.end());
  ASSERT_TRUE(write_all(fd.get(), start_bytes));
  // Slowloris: one byte every 50 ms keeps the connection busy, never done.
  std::vector<std::byte> received;
  bool closed = false;
  for (int i = 0; i < 90 && !closed; ++i) {
    const std::byte b{1};
    if (!write_all(fd.get(), std::span(&b, 1), 1'000ms)) break;
    const auto ex = exchange(fd.get(), {}, received.size() + 1, false, 50ms);
    received.insert(received.end(), ex.received.begin(), ex.received.end());
    closed = ex.eof || ex.reset;
  }
  if (!closed) {
    const auto ex = read_until_close(fd.get(), 5'000ms);
    closed = ex.eof || ex.reset;
  }
  EXPECT_TRUE(closed) << "the frame was never cut";
  ASSERT_GE(received.size(), ok.size());
  EXPECT_TRUE(std::equal(ok.begin(), ok.end(), received.begin()));
  EXPECT_TRUE(server.wait_for_log("frame timeout", 5s)) << server.stderr_text();
}

TEST_P(Server, ConnectionLimitRefusesThenRecovers) {
  start({"--max-conns", "2"});
  auto c1 = connect_local(server.port());
  auto c2 = connect_local(server.port());
  ASSERT_TRUE(c1.valid() && c2.valid());
  const auto ping = frame_of("ping");
  ASSERT_EQ(exchange(c1.get(), ping, ping.size(), false).received, ping);
  ASSERT_EQ(exchange(c2.get(), ping, ping.size(), false).received, ping);

  auto c3 = connect_local(server.port());
  ASSERT_TRUE(c3.valid()) << "the kernel completes the handshake";
  const auto refused = read_until_close(c3.get(), 5'000ms);
  EXPECT_TRUE(refused.received.empty());
  EXPECT_TRUE(refused.eof || refused.reset) << "refused connections are closed at once";
  EXPECT_TRUE(server.wait_for_log("connection limit 2 reached", 5s)) << server.stderr_text();
  server.send_signal(SIGUSR1);
  EXPECT_TRUE(server.wait_for_log("accepted 2, refused 1", 5s)) << server.stderr_text();

  c1.reset();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    auto c4 = connect_local(server.port());
    served = c4.valid() && exchange(c4.get(), ping, ping.size(), false, 1'000ms).received == ping;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served) << "a freed slot is used again";
}

TEST_P(Server, SlowReaderCostsBoundedMemoryAndDoesNotStallOthers) {
  start();
  const long rss_before = server.rss_kib();
  auto slow = connect_local(server.port());
  ASSERT_TRUE(slow.valid());
  // Send up to 64 MiB without reading, until the pipe is full for 500 ms.
  std::vector<std::byte> frames;
  for (int i = 0; i < 16; ++i) {
    const auto f = frame_of(pattern_payload(64U << 10U, static_cast<std::size_t>(i)));
    frames.insert(frames.end(), f.begin(), f.end());
  }
  std::vector<std::byte> sent;
  for (int round = 0; round < 64; ++round) {
    if (!write_all(slow.get(), frames, 500ms)) break;
    sent.insert(sent.end(), frames.begin(), frames.end());
  }
  std::this_thread::sleep_for(200ms);
  const long growth = server.rss_kib() - rss_before;
  EXPECT_LT(growth, 16 * 1024) << "server RSS grew by " << growth << " KiB for one slow reader";

  client::EchoOptions options;
  options.timeout = 5'000ms;
  const auto r = client::run_echo(
      "127.0.0.1", server.port(), 200,
      [](std::size_t i, std::vector<std::byte>& out) { out = pattern_payload(64, i); }, options);
  EXPECT_EQ(r.error, "") << "the neighbour must be served while the slow reader is stuck";

  // Nothing the slow reader sent was lost: reading now returns it all.
  const auto ex = exchange(slow.get(), {}, sent.size(), false);
  EXPECT_EQ(ex.received.size(), sent.size());
  EXPECT_TRUE(ex.received == sent);
}

TEST_P(Server, OutOfFileDescriptorsNeitherSpinsNorCrashesAndRecovers) {
  // 64 descriptors, 30 of them taken before the server starts: it believes
  // 40 connections fit, but accept4 hits EMFILE after about 25.
  SpawnOptions options;
  options.fd_limit = 64;
  options.leak_fds = 30;
  start({"--max-conns", "40"}, options);
  std::vector<net::UniqueFd> clients;
  for (int i = 0; i < 40; ++i) {
    auto fd = connect_local(server.port());
    if (fd.valid()) clients.push_back(std::move(fd));
  }
  ASSERT_TRUE(server.wait_for_log("accept4: Too many open files", 5s)) << server.stderr_text();
  const double cpu_before = server.cpu_seconds();
  std::this_thread::sleep_for(1'000ms);
  const double cpu = server.cpu_seconds() - cpu_before;
  EXPECT_LT(cpu, 0.5) << "the server burned " << cpu << " s of CPU in 1 s: a busy loop";
  expect_running();

  clients.clear();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    auto fd = connect_local(server.port());
    const auto ping = frame_of("ping");
    served = fd.valid() && exchange(fd.get(), ping, ping.size(), false, 1'000ms).received == ping;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served) << server.stderr_text();
}

TEST_P(Server, RaisesTheSoftFdLimitToFitMaxConns) {
  SpawnOptions options;
  options.fd_soft_limit = 64;
  start({"--max-conns", "500"}, options);
  EXPECT_TRUE(server.wait_for_log(
      "raised RLIMIT_NOFILE from 64 to " + std::to_string(516 + extra_worker_fds()), 5s))
      << server.stderr_text();
  expect_serving();
}

TEST_P(Server, LowersMaxConnsWhenTheHardFdLimitIsTooLow) {
  SpawnOptions options;
  options.fd_limit = 64;
  start({"--max-conns", "1000"}, options);
  const int fit = 48 - extra_worker_fds();
  ASSERT_TRUE(server.wait_for_log("serving at most " + std::to_string(fit) + " connections", 5s))
      << server.stderr_text();
  std::vector<net::UniqueFd> clients(static_cast<std::size_t>(fit));
  const auto ping = frame_of("ping");
  for (auto& fd : clients) {
    fd = connect_local(server.port());
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(exchange(fd.get(), ping, ping.size(), false).received, ping);
  }
  auto extra = connect_local(server.port());
  ASSERT_TRUE(extra.valid());
  const auto refused = read_until_close(extra.get(), 5'000ms);
  EXPECT_TRUE(refused.received.empty());
  EXPECT_TRUE(refused.eof || refused.reset) << "one connection over the lowered limit";
}

TEST_P(Server, SigintDrainsFramesInFlightThenExitsZero) {
  start();
  auto idle = connect_local(server.port());
  auto fd = connect_local(server.port());
  ASSERT_TRUE(idle.valid() && fd.valid());
  const auto first = frame_of("first");
  const auto second = frame_of(pattern_payload(1U << 20U, 5));
  const auto third = frame_of("never echoed");
  std::vector<std::byte> head = first;
  head.insert(head.end(), second.begin(), second.begin() + 1000);
  // Wait until the server has echoed part of the second frame: it has begun.
  auto ex = exchange(fd.get(), head, first.size() + 100, false);
  ASSERT_GE(ex.received.size(), first.size() + 100);

  server.send_signal(SIGINT);
  ASSERT_TRUE(server.wait_for_log("shutting down", 5s));
  std::vector<std::byte> rest(second.begin() + 1000, second.end());
  rest.insert(rest.end(), third.begin(), third.end());
  auto tail = exchange(fd.get(), rest, SIZE_MAX, false);
  ex.received.insert(ex.received.end(), tail.received.begin(), tail.received.end());

  std::vector<std::byte> want = first;
  want.insert(want.end(), second.begin(), second.end());
  EXPECT_EQ(ex.received.size(), want.size());
  EXPECT_TRUE(ex.received == want) << "frame begun before the signal is echoed whole";
  EXPECT_TRUE(tail.eof);
  EXPECT_TRUE(read_until_close(idle.get(), 5'000ms).eof);

  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 0);
  EXPECT_FALSE(connect_local(server.port(), "127.0.0.1", 1'000ms).valid())
      << "the listener is closed";
  EXPECT_NE(server.stderr_text().find("counters (exit): accepted 2"), std::string::npos)
      << server.stderr_text();
}

TEST_P(Server, SigtermWithIdleClientsExitsWithinTheDrainTimeout) {
  start({"--drain-timeout", "500ms"});
  std::vector<net::UniqueFd> idle(5);
  for (auto& fd : idle) fd = connect_local(server.port());
  auto stuck = connect_local(server.port());
  ASSERT_TRUE(stuck.valid());
  const auto header = encode_header(100);  // A frame that never completes.
  ASSERT_TRUE(write_all(stuck.get(), header));
  std::this_thread::sleep_for(100ms);
  const auto t0 = std::chrono::steady_clock::now();
  server.send_signal(SIGTERM);
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  for (auto& fd : idle) EXPECT_TRUE(read_until_close(fd.get(), 2'000ms).eof);
  EXPECT_NE(server.stderr_text().find("drain timeout 500ms expired"), std::string::npos)
      << server.stderr_text();
}

TEST_P(Server, SecondSignalExitsAtOnce) {
  start({"--drain-timeout", "60s"});
  auto stuck = connect_local(server.port());
  ASSERT_TRUE(stuck.valid());
  ASSERT_TRUE(write_all(stuck.get(), encode_header(100)));
  std::this_thread::sleep_for(100ms);
  server.send_signal(SIGINT);
  ASSERT_TRUE(server.wait_for_log("shutting down", 5s));
  server.send_signal(SIGINT);
  const auto status = server.wait_exit(5s);
  ASSERT_TRUE(status.has_value()) << "a second signal must not wait for the drain";
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 1);
}

TEST_P(Server, Sigusr1LogsTheCounters) {
  start();
  expect_serving();
  server.send_signal(SIGUSR1);
  EXPECT_TRUE(
      server.wait_for_log("counters (SIGUSR1): accepted 1, refused 0, timed out 0, "
                          "protocol errors 0, frames echoed 1, bytes echoed 8",
                          5s))
      << server.stderr_text();
}

TEST(ServerCommandLine, BadArgumentsPrintOneLineAndAHintAndFail) {
  const std::vector<std::vector<std::string>> cases{
      {"--bogus"},
      {"--port", "abc"},
      {"--port", "70000"},
      {"--port", "-1"},
      {"--port", "65536"},
      {"--idle-timeout", "5"},
      {"--linger-timeout", "0"},
      {"--backend", "kqueue"},
      {"--workers", "0"},
      {"--port"},
      {"--max-conns", "-5"},
      {"--max-conns", "0"},
      {"--idle-timeout", "5x"},
      {"--frame-timeout", "-1s"},
      {"--drain-timeout", "soon"},
      {"--max-frame", "5GiB"},
      {"--max-frame", "12QiB"},
      {"--log-level", "loud"},
      {"stray"},
  };
  for (const auto& args : cases) {
    std::string out;
    std::string err;
    const auto status = run_to_exit(FRAMED_SERVER_PATH, args, out, err);
    EXPECT_TRUE(status.exited) << args[0];
    EXPECT_EQ(status.code, 2) << args[0];
    EXPECT_EQ(err.rfind("framed-server: ", 0), 0U) << err;
    EXPECT_NE(err.find("\nTry 'framed-server --help' for more information.\n"), std::string::npos)
        << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << "one line, then the hint:\n" << err;
    EXPECT_EQ(out, "") << "nothing on stdout for " << args[0];
  }
}

TEST(ServerCommandLine, HelpDocumentsEveryOption) {
  std::string out;
  std::string err;
  const auto status = run_to_exit(FRAMED_SERVER_PATH, {"--help"}, out, err);
  EXPECT_EQ(status.code, 0);
  for (const char* flag : {"--host", "--port", "--max-conns", "--idle-timeout", "--frame-timeout",
                           "--max-frame", "--drain-timeout", "--linger-timeout", "--linger-time",
                           "--backend", "--workers", "--log-level", "SIGINT", "SIGUSR1"}) {
    EXPECT_NE(out.find(flag), std::string::npos) << flag;
  }
}

// A second instance on a port the first serves fails, whatever either's
// --workers: with several workers every listener has SO_REUSEPORT, and a
// second instance must not join their group and take half the connections.
TEST_P(Server, PortInUseIsReportedAndFails) {
  start();
  for (const std::vector<std::string>& workers :
       {std::vector<std::string>{}, std::vector<std::string>{"--workers", "2"}, GetParam().args}) {
    std::vector<std::string> args{"--port", std::to_string(server.port())};
    args.insert(args.end(), workers.begin(), workers.end());
    std::string out;
    std::string err;
    const auto status = run_to_exit(FRAMED_SERVER_PATH, args, out, err);
    EXPECT_EQ(status.code, 1) << "second instance with " << ::testing::PrintToString(workers);
    EXPECT_NE(err.find("Address already in use"), std::string::npos) << err;
    EXPECT_EQ(out.find("listening on"), std::string::npos) << out;
  }
  expect_serving();
}

TEST_P(Server, ServesIpv6Loopback) {
  SpawnOptions options;
  options.args = {"--port", "0", "--host", "::1"};
  options.args.insert(options.args.end(), GetParam().args.begin(), GetParam().args.end());
  std::string error;
  if (!server.start(FRAMED_SERVER_PATH, options, error)) {
    if (error.find("Cannot assign requested address") != std::string::npos ||
        error.find("Address family not supported") != std::string::npos) {
      GTEST_SKIP() << "no IPv6 loopback here: " << error;
    }
    FAIL() << error;
  }
  EXPECT_EQ(server.listening_line().rfind("listening on [::1]:", 0), 0U) << server.listening_line();
  expect_serving("::1");
}

TEST_P(Server, ServesAThousandConcurrentClients) {
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur < 2100) {
    lim.rlim_cur = std::min<rlim_t>(4096, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < 2100) GTEST_SKIP() << "RLIMIT_NOFILE too low for 1000 clients";
  start();
  std::vector<net::UniqueFd> clients;
  for (int i = 0; i < 1000; ++i) {
    clients.push_back(connect_local(server.port()));
    ASSERT_TRUE(clients.back().valid()) << "client " << i;
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(write_all(clients[i].get(), frame_of(pattern_payload(100, i))));
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto want = frame_of(pattern_payload(100, i));
    const auto ex = exchange(clients[i].get(), {}, want.size(), false);
    ASSERT_TRUE(ex.received == want) << "client " << i;
  }
  server.send_signal(SIGUSR1);
  EXPECT_TRUE(server.wait_for_log("accepted 1000, refused 0", 5s)) << server.stderr_text();
}

TEST_P(Server, ClientEchoesArgumentsAndStdinLinesAndReportsEarlyClose) {
  start({"--max-frame", "10"});
  const std::string port = std::to_string(server.port());
  std::string out;
  std::string err;
  auto status = run_to_exit(FRAMED_CLIENT_PATH, {"--port", port, "hello", ""}, out, err);
  EXPECT_EQ(status.code, 0) << err;
  EXPECT_NE(out.find("reply 1 (5 bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("2/2 frames echoed and verified"), std::string::npos) << out;

  status = run_to_exit(FRAMED_CLIENT_PATH, {"--port", port}, out, err, 20'000ms, "one\ntwo\n");
  EXPECT_EQ(status.code, 0) << err;
  EXPECT_NE(out.find("reply 1 (3 bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("reply 2 (3 bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("): two"), std::string::npos) << out;

  status =
      run_to_exit(FRAMED_CLIENT_PATH, {"--port", port, "--count", "5", "--size", "100"}, out, err);
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(err.find("server closed the connection after 0 frame(s)"), std::string::npos) << err;
}

INSTANTIATE_TEST_SUITE_P(Backends, Server, ::testing::ValuesIn(backend_cases()), backend_case_name);
INSTANTIATE_TEST_SUITE_P(Timing, ServerTiming, ::testing::ValuesIn(timing_cases()),
                         backend_case_name);

}  // namespace
}  // namespace framed::test

namespace framed::test {
namespace {

// The tools share one command-line helper and the GNU convention.
TEST(ToolsCommandLine, BadArgumentsPrintOneLineAndAHint) {
  struct Case {
    const char* path;
    const char* name;
    std::vector<std::string> args;
  };
  const std::vector<Case> cases{
      {FRAMED_CLIENT_PATH, "framed-client", {"--bogus"}},
      {FRAMED_CLIENT_PATH, "framed-client", {"--port", "70000"}},
      {FRAMED_CLIENT_PATH, "framed-client", {"--window"}},
      {FRAMED_STRESS_PATH, "stress", {"--clients", "0"}},
      {FRAMED_STRESS_PATH, "stress", {"stray"}},
  };
  for (const auto& c : cases) {
    std::string out;
    std::string err;
    const auto status = run_to_exit(c.path, c.args, out, err);
    EXPECT_EQ(status.code, 2) << c.name << " " << c.args[0];
    EXPECT_EQ(err.rfind(std::string(c.name) + ": ", 0), 0U) << err;
    EXPECT_NE(err.find("Try '" + std::string(c.name) + " --help' for more information.\n"),
              std::string::npos)
        << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
  }
}

// stress folds the same error of many clients into one line with a count.
TEST(ToolsCommandLine, StressFoldsIdenticalClientErrors) {
  // A port nobody listens on: bind one, read its number, close it.
  std::uint16_t port = 0;
  {
    ServerProcess probe;
    SpawnOptions options;
    options.args = {"--port", "0"};
    std::string error;
    ASSERT_TRUE(probe.start(FRAMED_SERVER_PATH, options, error)) << error;
    port = probe.port();
  }
  std::string out;
  std::string err;
  const auto status =
      run_to_exit(FRAMED_STRESS_PATH,
                  {"--port", std::to_string(port), "--clients", "20", "--frames", "1"}, out, err);
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(err.find("stress: 20 clients: "), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

}  // namespace
}  // namespace framed::test
