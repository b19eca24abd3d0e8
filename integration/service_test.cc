// Services other than the echo, against the real binary (reply-service, on
// the library): what a handler sends counts toward the connection's bound
// at once, on every backend; and a service that takes whole frames never
// sizes a buffer by the length a peer announces.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <csignal>

#include <string>
#include <thread>
#include <vector>

#include "alloc_guard.h"
#include "backends.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

class Service : public BackendTest {
 protected:
  ServerProcess server;

  void start(std::vector<std::string> args, SpawnOptions options = {}) {
    options.args = std::move(args);
    options.args.insert(options.args.end(), {"--port", "0"});
    options.args.insert(options.args.end(), GetParam().args.begin(), GetParam().args.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_REPLY_SERVICE_PATH, options, error)) << error;
  }
};

// 16 clients each send 80 small requests in one write and never read; each
// request is answered with a 100 KB frame. Without the bound every
// connection would hold all 80 replies (8 MB); with it, the backlog cap
// (256 KiB) plus one reply plus a read.
TEST_P(Service, LargeRepliesToAClientThatNeverReadsStayWithinTheBound) {
  start({"--reply-size", "100000", "--delivery", "frames"});
  const long before = server.rss_kib();
  std::vector<std::byte> requests;
  for (int i = 0; i < 80; ++i) {
    const auto f = frame_of("get key");
    requests.insert(requests.end(), f.begin(), f.end());
  }
  std::vector<net::UniqueFd> clients;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(connect_small(server.port(), 4096));
    ASSERT_TRUE(clients.back().valid());
    ASSERT_TRUE(write_all(clients.back().get(), requests));
  }
  std::this_thread::sleep_for(1s);  // Let the server do all it will.
  const long grown = server.rss_kib() - before;
  // 16 x (256 KiB + 100 KB + 64 KiB) is about 7 MiB; unbounded, 128 MB.
  EXPECT_LT(grown, 24L * 1024) << "resident memory grew by " << grown << " KiB";
  EXPECT_FALSE(server.wait_exit(0ms).has_value()) << server.stderr_text();
  // And each client still gets all 80 replies once it reads.
  std::vector<std::byte> reply_frame(4 + 100000, std::byte{0x42});
  const auto fd = clients.front().get();
  const Exchange ex = exchange(fd, {}, 80 * reply_frame.size(), false, 10'000ms);
  EXPECT_EQ(ex.received.size(), 80 * reply_frame.size());
}

// §6.3 under backpressure: a client sends 80 requests and its EOF in one go
// and reads nothing for a while, so most requests (and the EOF behind them)
// wait while the replies fill the output to the cap. Once it reads, it gets
// every reply and then the server's close, without waiting for the idle
// timeout (30 s here: reading gives up after 10 s without progress).
TEST_P(Service, AnEofBehindHeldRequestsClosesOnceEveryRequestIsAnswered) {
  start({"--reply-size", "100000", "--delivery", "frames", "--idle-timeout", "30s"});
  std::vector<std::byte> requests;
  for (int i = 0; i < 80; ++i) {
    const auto f = frame_of("get key");
    requests.insert(requests.end(), f.begin(), f.end());
  }
  const net::UniqueFd client = connect_small(server.port(), 4096);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(write_all(client.get(), requests));
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  std::this_thread::sleep_for(300ms);  // The server fills the output and holds the rest.
  const Exchange ex = read_until_close(client.get(), 10'000ms);
  EXPECT_EQ(ex.received.size(), 80 * (4 + 100000U));
  EXPECT_TRUE(ex.eof && !ex.timed_out && !ex.reset)
      << "eof " << ex.eof << ", timed out " << ex.timed_out << ", reset " << ex.reset << "\n"
      << server.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Backends, Service, ::testing::ValuesIn(backend_cases()),
                         backend_case_name);

// Delivery::frames buffers a frame as it arrives: a header announcing
// 4 GiB - 1 bytes followed by 1 MiB must not reserve the announced length
// (the allocation guard aborts above 64 MiB).
TEST(ServiceFrames, AFrameAnnouncingFourGibIsBufferedOnlyAsItArrives) {
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--reply-size", "0", "--delivery",  "frames",
                  "--port",       "0", "--max-frame", "4294967295"};
  options.env = alloc_guard_env(64U << 20U);
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_REPLY_SERVICE_PATH, options, error)) << error;
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> sent(4 + (1U << 20U), std::byte{7});
  for (std::size_t i = 0; i < 4; ++i) sent[i] = std::byte{0xFF};
  ASSERT_TRUE(write_all(fd.get(), sent));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(server.wait_exit(0ms).has_value()) << "server died; log:\n" << server.stderr_text();
  EXPECT_EQ(server.stderr_text().find(alloc_guard_message()), std::string::npos)
      << server.stderr_text();
  // Still serving whole frames.
  auto other = connect_local(server.port());
  const auto ping = frame_of("ping");
  const Exchange ex = exchange(other.get(), ping, ping.size(), false);
  EXPECT_EQ(ex.received, ping);
}

// A program's own thread, started before serve() and blocking no signal,
// does not make SIGTERM or SIGUSR1 fatal: serve() takes them in whichever
// thread the kernel picks (it blocked them in its own thread only, so the
// other thread took the default action: exit 143 with no drain, and 138
// for SIGUSR1), and gives the caller its signal mask back.
TEST(ServiceSignals, AThreadStartedBeforeServeDoesNotTurnSignalsFatal) {
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--idle-thread", "yes", "--port", "0", "--backend", "epoll"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_REPLY_SERVICE_PATH, options, error)) << error;
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  server.send_signal(SIGUSR1);
  ASSERT_TRUE(server.wait_for_log("counters (SIGUSR1)", 5s)) << server.stderr_text();
  server.send_signal(SIGTERM);
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << server.stderr_text();
  EXPECT_EQ(status->code, 0) << server.stderr_text();
  EXPECT_TRUE(read_until_close(fd.get(), 5s).eof) << "the connection was drained";
  EXPECT_NE(server.stderr_text().find("shutdown complete"), std::string::npos)
      << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("after serve: SIGTERM not blocked"), std::string::npos)
      << server.stderr_text();
}

}  // namespace
}  // namespace framed::test
