// Scale: many connections on every backend, and several workers sharing
// one global limit, one drain and the load. Each test starts the real
// framed-server binary on an ephemeral loopback port.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "backends.h"
#include "framed/encoder.h"
#include "net/socket.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string counters_after_sigusr1(ServerProcess& server, const std::string& prefix) {
  const auto before = server.stderr_text().size();
  server.send_signal(SIGUSR1);
  for (int i = 0; i < 250; ++i) {
    const std::string text = server.stderr_text();
    const auto at = text.find(prefix, before);
    if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
      return text.substr(at, text.find('\n', at) - at);
    }
    std::this_thread::sleep_for(20ms);
  }
  return {};
}

std::uint64_t field(const std::string& line, const std::string& name) {
  const auto at = line.find(name + " ");
  return at == std::string::npos ? UINT64_MAX : std::stoull(line.substr(at + name.size() + 1));
}

// Opens `count` connections, `batch` handshakes in flight at a time so the
// listen queue never overflows. Returns the connected sockets.
std::vector<net::UniqueFd> connect_many(std::uint16_t port, std::size_t count, std::size_t batch) {
  std::vector<net::Endpoint> eps;
  std::string detail;
  std::vector<net::UniqueFd> out;
  if (!net::resolve("127.0.0.1", port, false, eps, detail).ok() || eps.empty()) return out;
  while (out.size() < count) {
    std::vector<net::UniqueFd> pending;
    for (std::size_t i = 0; i < batch && out.size() + pending.size() < count; ++i) {
      net::UniqueFd fd;
      if (!net::connect_to(eps.front(), fd).ok()) return out;
      pending.push_back(std::move(fd));
    }
    std::vector<pollfd> fds;
    fds.reserve(pending.size());
    for (auto& fd : pending) fds.push_back({fd.get(), POLLOUT, 0});
    const auto give_up = Clock::now() + 20s;
    std::size_t done = 0;
    while (done < fds.size() && Clock::now() < give_up) {
      if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return out;
      for (auto& p : fds) {
        if (p.fd >= 0 && p.revents != 0) {
          p.fd = -p.fd - 1;  // Done: poll() ignores negative descriptors.
          ++done;
        }
      }
    }
    for (auto& fd : pending) {
      if (!net::connect_result(fd.get()).ok()) return out;
      out.push_back(std::move(fd));
    }
  }
  return out;
}

class Scale : public BackendTest {
 protected:
  ServerProcess server;

  void start(std::vector<std::string> args = {}) {
    SpawnOptions options;
    options.args = {"--port", "0"};
    options.args.insert(options.args.end(), GetParam().args.begin(), GetParam().args.end());
    options.args.insert(options.args.end(), args.begin(), args.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  }
};

// 10,000 concurrent connections on one server, one echo on each.
TEST_P(Scale, TenThousandConcurrentConnectionsEachGetAnEcho) {
  constexpr std::size_t kConns = 10'000;
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur < kConns + 100) {
    lim.rlim_cur = std::min<rlim_t>(kConns + 200, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < kConns + 100) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << lim.rlim_max << " is below " << kConns + 100;
  }
  start({"--max-conns", std::to_string(kConns), "--idle-timeout", "0"});
  auto clients = connect_many(server.port(), kConns, 500);
  ASSERT_EQ(clients.size(), kConns) << server.stderr_text();

  const auto ping = frame_of("ping");
  for (auto& fd : clients) ASSERT_TRUE(write_all(fd.get(), ping));
  std::vector<pollfd> fds;
  fds.reserve(clients.size());
  for (auto& fd : clients) fds.push_back({fd.get(), POLLIN, 0});
  std::vector<std::size_t> got(kConns, 0);
  std::size_t complete = 0;
  const auto give_up = Clock::now() + 60s;
  std::byte buf[64];
  while (complete < kConns && Clock::now() < give_up) {
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const auto r = net::read_some(fds[i].fd, buf);
      ASSERT_TRUE(r.error.ok() && !r.eof) << "connection " << i << " closed";
      for (std::size_t k = 0; k < r.bytes; ++k) {
        ASSERT_EQ(buf[k], ping[got[i] + k]) << "connection " << i;
      }
      got[i] += r.bytes;
      if (got[i] == ping.size()) {
        fds[i].fd = -1;
        ++complete;
      }
    }
  }
  EXPECT_EQ(complete, kConns);
  const auto line = counters_after_sigusr1(server, "counters (SIGUSR1)");
  EXPECT_EQ(field(line, "open"), kConns) << line;
  EXPECT_EQ(field(line, "refused"), 0U) << line;
}

// §6.7 on every worker: SIGINT with a frame in flight on each connection;
// each gets that frame whole and nothing after it, then a clean close.
TEST_P(Scale, SigintWithFramesInFlightEverywhereLosesNothing) {
  start();
  constexpr std::size_t kConns = 24;
  std::vector<net::UniqueFd> clients;
  std::vector<std::vector<std::byte>> frames;
  for (std::size_t i = 0; i < kConns; ++i) {
    clients.push_back(connect_local(server.port()));
    ASSERT_TRUE(clients.back().valid());
    std::vector<std::byte> payload(100'000 + i);
    for (std::size_t k = 0; k < payload.size(); ++k) {
      payload[k] = static_cast<std::byte>((k + i * 13) & 0xFFU);
    }
    frames.push_back(frame_of(payload));
    // The first half, and its echo back: the frame has begun on the server.
    const auto half = std::span(frames.back()).first(50'000);
    const auto ex = exchange(clients.back().get(), half, half.size(), false);
    ASSERT_EQ(ex.received.size(), half.size());
  }
  server.send_signal(SIGINT);
  ASSERT_TRUE(server.wait_for_log("shutting down", 5s));
  for (std::size_t i = 0; i < kConns; ++i) {
    auto rest = std::vector<std::byte>(frames[i].begin() + 50'000, frames[i].end());
    const auto extra = frame_of("after the signal");
    rest.insert(rest.end(), extra.begin(), extra.end());
    const auto ex = exchange(clients[i].get(), rest, SIZE_MAX, false);
    const std::vector<std::byte> want(frames[i].begin() + 50'000, frames[i].end());
    EXPECT_TRUE(ex.received == want) << "connection " << i << ": " << ex.received.size();
    EXPECT_TRUE(ex.eof && !ex.reset) << "connection " << i;
  }
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, Scale, ::testing::ValuesIn(backend_cases()), backend_case_name);

class Workers : public ::testing::Test {
 protected:
  ServerProcess server;

  void start(std::vector<std::string> args) {
    SpawnOptions options;
    options.args = {"--port", "0", "--backend", "epoll"};
    options.args.insert(options.args.end(), args.begin(), args.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  }
};

// Connections land on every worker: each one's counters show some.
TEST_F(Workers, ConnectionsLandOnEveryWorker) {
  start({"--workers", "2", "--log-level", "debug"});
  EXPECT_EQ(server.listening_line().rfind("listening on 127.0.0.1:", 0), 0U);
  const auto ping = frame_of("ping");
  for (int i = 0; i < 64; ++i) {
    auto fd = connect_local(server.port());
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(exchange(fd.get(), ping, ping.size(), false).received, ping);
  }
  const auto w0 = counters_after_sigusr1(server, "worker 0 counters (SIGUSR1)");
  const auto w1 = counters_after_sigusr1(server, "worker 1 counters (SIGUSR1)");
  const auto all = counters_after_sigusr1(server, "counters (SIGUSR1): accepted");
  EXPECT_GT(field(w0, "accepted"), 0U) << w0;
  EXPECT_GT(field(w1, "accepted"), 0U) << w1;
  EXPECT_EQ(field(w0, "accepted") + field(w1, "accepted"), 64U) << w0 << "\n" << w1;
  EXPECT_EQ(field(all, "accepted"), 64U) << all;
  EXPECT_EQ(field(all, "frames echoed"), 64U) << all;
}

// --max-conns is one exact global limit, not a share per worker, however
// the workers race for it.
TEST_F(Workers, TheGlobalLimitHoldsExactlyWithWorkersRacing) {
  start({"--workers", "2", "--max-conns", "10"});
  auto clients = connect_many(server.port(), 40, 40);
  ASSERT_EQ(clients.size(), 40U);
  const auto ping = frame_of("ping");
  std::size_t served = 0;
  std::size_t refused = 0;
  for (auto& fd : clients) {
    const auto ex = exchange(fd.get(), ping, ping.size(), false, 3'000ms);
    if (ex.received == ping) {
      ++served;
    } else if (ex.eof || ex.reset) {
      ++refused;
    }
  }
  EXPECT_EQ(served, 10U);
  EXPECT_EQ(refused, 30U);
  const auto all = counters_after_sigusr1(server, "counters (SIGUSR1): accepted");
  EXPECT_EQ(field(all, "accepted"), 10U) << all;
  EXPECT_EQ(field(all, "refused"), 30U) << all;
  EXPECT_EQ(field(all, "open"), 10U) << all;
}

TEST(WorkersCommandLine, BadBackendOrWorkersExitTwo) {
  const std::vector<std::vector<std::string>> cases{
      {"--backend", "bogus"}, {"--backend", ""},    {"--workers", "0"},
      {"--workers", "-1"},    {"--workers", "257"}, {"--workers", "two"},
  };
  for (const auto& args : cases) {
    std::string out;
    std::string err;
    const auto status = run_to_exit(FRAMED_SERVER_PATH, args, out, err);
    EXPECT_TRUE(status.exited) << args[0] << " " << args[1];
    EXPECT_EQ(status.code, 2) << args[0] << " " << args[1];
    EXPECT_NE(err.find(args[0]), std::string::npos) << err;
  }
}

TEST(WorkersCommandLine, StartupLineNamesBackendAndWorkers) {
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--port", "0", "--backend", "poll", "--workers", "2"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  EXPECT_TRUE(server.wait_for_log("backend poll, workers 2", 5s)) << server.stderr_text();
}

}  // namespace
}  // namespace framed::test
