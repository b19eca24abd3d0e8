// framed-router against real backends (framed-server, and delay-echo: a
// seeded delay per reply, or a backend that stops reading), one behaviour
// per test: every client's order under random backend delays, with each
// policy; a key's frames on one backend; a backend killed mid-stress (with
// --retry no frame is lost; without it only the affected clients are
// closed, cleanly, after the replies that came); a backend that stops
// reading; a backend restarted and taken back; no backend up; the drain;
// the metrics per backend; and framed-conform's whole suite through it.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "framed/client.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<ServerProcess> spawn(const std::string& path, std::vector<std::string> args) {
  auto p = std::make_unique<ServerProcess>();
  SpawnOptions o;
  o.args = std::move(args);
  std::string error;
  EXPECT_TRUE(p->start(path, o, error)) << path << ": " << error;
  return p;
}

std::string addr(const ServerProcess& p) { return "127.0.0.1:" + std::to_string(p.port()); }

struct ProgramRun {
  ExitStatus status;
  std::string out;
  std::string err;
};

ProgramRun stress(std::uint16_t port, std::vector<std::string> args) {
  args.insert(args.begin(), {"--port", std::to_string(port), "--seed", "7"});
  ProgramRun r;
  r.status = run_to_exit(FRAMED_STRESS_PATH, args, r.out, r.err, 120'000ms);
  return r;
}

class Router : public ::testing::Test {
 protected:
  std::vector<std::unique_ptr<ServerProcess>> backends;
  std::unique_ptr<ServerProcess> router;

  void start_backends(std::size_t n, const std::string& path, std::vector<std::string> args) {
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::string> a = {"--port", "0", "--log-level", "warn"};
      a.insert(a.end(), args.begin(), args.end());
      if (path == FRAMED_DELAY_ECHO_PATH) a.insert(a.end(), {"--seed", std::to_string(i + 1)});
      backends.push_back(spawn(path, a));
    }
  }
  void start_router(std::vector<std::string> args) {
    std::vector<std::string> a = {"--listen", "127.0.0.1:0"};
    for (const auto& b : backends) a.insert(a.end(), {"--backend", addr(*b)});
    a.insert(a.end(), args.begin(), args.end());
    router = spawn(FRAMED_ROUTER_PATH, a);
    // Every backend up before the test's first frame, so that none is
    // parked or sent elsewhere.
    const std::size_t workers = workers_in(args);
    for (int i = 0; i < 500 && ups() < backends.size() * workers; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(ups(), backends.size() * workers) << log();
  }
  static std::size_t workers_in(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--workers") return std::stoul(args[i + 1]);
    }
    return 1;
  }
  std::size_t ups() const {
    const std::string text = log();
    std::size_t n = 0;
    for (auto at = text.find(" is up (worker"); at != std::string::npos;
         at = text.find(" is up (worker", at + 1)) {
      ++n;
    }
    return n;
  }
  std::string log() const { return router ? router->stderr_text() : std::string(); }
};

std::span<const std::byte> as_span(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// The number after `label` in a counters line ("..., frames echoed 50, ...").
long count_after(const std::string& line, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(label + " ([0-9]+)"))) return -1;
  return std::stol(m[1]);
}

// A backend's "frames echoed", once it reaches `expected` (or after 5 s):
// the server counts a frame after write(2) returns, which can follow the
// client's read of it.
long echoed(ServerProcess& backend, long expected) {
  long n = -1;
  for (int i = 0; i < 50; ++i) {
    n = count_after(backend.counters_line(), "frames echoed");
    if (n >= expected) break;
    std::this_thread::sleep_for(100ms);
  }
  return n;
}

TEST_F(Router, KeepsEveryClientsOrderUnderRandomBackendDelaysWithEachPolicy) {
  start_backends(3, FRAMED_DELAY_ECHO_PATH, {"--delay-max", "15ms"});
  for (const char* policy : {"round-robin", "least-pending", "key"}) {
    start_router({"--balance", policy, "--key-bytes", "2"});
    const ProgramRun r =
        stress(router->port(), {"--clients", "20", "--frames", "100", "--window", "16"});
    EXPECT_EQ(r.status.code, 0) << policy << "\n" << r.out << r.err << log();
    router.reset();
  }
}

// Each worker keeps its own pools and health; clients land on either.
TEST_F(Router, KeepsEveryClientsOrderWithSeveralWorkers) {
  start_backends(3, FRAMED_DELAY_ECHO_PATH, {"--delay-max", "5ms"});
  start_router({"--workers", "2"});
  const ProgramRun r =
      stress(router->port(), {"--clients", "20", "--frames", "100", "--window", "16"});
  EXPECT_EQ(r.status.code, 0) << r.out << r.err << log();
}

// --proxy-protocol on the listening side: the header first, then frames.
TEST_F(Router, TakesAProxyHeaderBeforeTheFrames) {
  start_backends(1, FRAMED_SERVER_PATH, {});
  start_router({"--proxy-protocol"});
  auto fd = connect_local(router->port());
  ASSERT_TRUE(fd.valid());
  auto request = bytes_of("PROXY TCP4 192.0.2.7 127.0.0.1 5555 7780\r\n");
  const auto f = frame_of("behind a proxy");
  request.insert(request.end(), f.begin(), f.end());
  const Exchange ex = exchange(fd.get(), request, SIZE_MAX, true, 5'000ms);
  EXPECT_EQ(ex.received, f);
  EXPECT_TRUE(ex.eof) << "the close follows the reply to the half-close";
}

// TLS toward the clients (the backends stay plain).
TEST_F(Router, ServesClientsOverTls) {
  if (!Client::tls_supported()) GTEST_SKIP() << "built without TLS";
  const std::string certs = FRAMED_TLS_CERTS;
  start_backends(2, FRAMED_SERVER_PATH, {});
  start_router({"--tls-cert", certs + "/server.pem", "--tls-key", certs + "/server.key"});
  Client c;
  ClientTlsOptions t;
  t.enabled = true;
  t.ca_file = certs + "/ca.pem";
  c.set_tls(t);
  const Error connected = c.connect("127.0.0.1", router->port());
  ASSERT_FALSE(connected) << connected.message << "\n" << log();
  std::vector<std::byte> reply;
  for (int i = 0; i < 4; ++i) {
    const std::string payload = "secret " + std::to_string(i);
    ASSERT_FALSE(c.send_frame(as_span(payload)));
    ASSERT_FALSE(c.receive_frame(reply, 10s));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(reply.data()), reply.size()), payload);
  }
}

TEST_F(Router, SendsEveryFrameOfAKeyToOneBackend) {
  start_backends(3, FRAMED_SERVER_PATH, {"--log-level", "info"});
  start_router({"--balance", "key", "--key-bytes", "6"});
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", router->port()));
  std::vector<std::byte> reply;
  for (int i = 0; i < 30; ++i) {
    const std::string payload = "user-7 request " + std::to_string(i);
    ASSERT_FALSE(c.send_frame(as_span(payload)));
    ASSERT_FALSE(c.receive_frame(reply, 10s));
  }
  long total = 0;
  for (int i = 0; i < 50 && total < 30; ++i) {
    total = 0;
    for (auto& b : backends)
      total += std::max(0L, count_after(b->counters_line(), "frames echoed"));
  }
  std::vector<long> counts;
  for (auto& b : backends) counts.push_back(count_after(b->counters_line(), "frames echoed"));
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<long>{0, 0, 30})) << "one key, one backend";
}

// SIGKILL in the middle of 50 x 100: every frame echoed exactly once and in
// order (stress checks each), the frames in flight retried elsewhere.
TEST_F(Router, WithRetryLosesNoFrameWhenABackendIsKilledMidStress) {
  start_backends(3, FRAMED_DELAY_ECHO_PATH, {"--delay-max", "10ms"});
  start_router({"--retry", "--backend-conns", "2"});
  auto result = std::async(std::launch::async, [&] {
    return stress(router->port(), {"--clients", "50", "--frames", "100", "--window", "2"});
  });
  std::this_thread::sleep_for(150ms);
  backends[1]->send_signal(SIGKILL);
  const ProgramRun r = result.get();
  EXPECT_EQ(r.status.code, 0) << r.out << r.err << log();
  EXPECT_TRUE(
      std::regex_search(log(), std::regex("backend " + addr(*backends[1]) +
                                          " is down: .* with [1-9][0-9]* frame\\(s\\) in flight")))
      << "the kill came with frames in flight:\n"
      << log();
}

// Without --retry: the clients with a frame at the killed backend get every
// reply before it, then a clean close (no reset, nothing out of order); the
// others finish.
TEST_F(Router, WithoutRetryClosesOnlyTheAffectedClientsCleanly) {
  start_backends(3, FRAMED_DELAY_ECHO_PATH, {"--delay-max", "30ms"});
  start_router({"--balance", "key", "--key-bytes", "1"});
  // 24 keys over 3 backends: that none uses the killed one has odds of
  // (2/3)^24, 6 in a million.
  constexpr int kClients = 24;
  constexpr std::size_t kFrames = 60;
  std::vector<std::future<std::pair<std::size_t, Error>>> runs;
  std::atomic<int> started{0};
  for (int i = 0; i < kClients; ++i) {
    runs.push_back(std::async(std::launch::async, [&, i] {
      Client c;
      std::size_t replies = 0;
      if (Error e = c.connect("127.0.0.1", router->port())) return std::make_pair(replies, e);
      ++started;
      // Each client's frames share one key: it uses one backend throughout.
      const auto request = [i](std::size_t n, std::vector<std::byte>& out) {
        const std::string s = std::string(1, static_cast<char>('a' + i)) + std::to_string(n);
        out.assign(as_span(s).begin(), as_span(s).end());
      };
      const auto on_reply = [&, i](std::size_t n, std::span<const std::byte> p) {
        const std::string expect = std::string(1, static_cast<char>('a' + i)) + std::to_string(n);
        if (std::string(reinterpret_cast<const char*>(p.data()), p.size()) != expect) return false;
        ++replies;
        return true;
      };
      Client::PipelineOptions po;
      po.window = 4;
      const Error e = c.pipeline(kFrames, request, on_reply, po);
      return std::make_pair(replies, e);
    }));
  }
  while (started < kClients) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(100ms);
  backends[0]->send_signal(SIGKILL);
  int finished = 0;
  int closed = 0;
  for (auto& f : runs) {
    const auto [replies, e] = f.get();
    if (!e) {
      EXPECT_EQ(replies, kFrames);
      ++finished;
    } else {
      EXPECT_EQ(e.code, Errc::closed) << e.message << "\n" << log();
      EXPECT_LT(replies, kFrames);
      ++closed;
    }
  }
  EXPECT_GT(closed, 0) << "24 keys over 3 backends: some used the killed one";
  EXPECT_GT(finished, 0) << log();
  EXPECT_NE(log().find("a backend failed with this client's frame in flight"), std::string::npos);
}

// A backend that stops reading: its frames go unanswered, it is marked down
// at --backend-timeout, and with --retry its frames are answered elsewhere.
TEST_F(Router, ABackendThatStopsReadingIsTimedOutAndItsFramesRetried) {
  start_backends(2, FRAMED_SERVER_PATH, {});
  backends.push_back(spawn(FRAMED_DELAY_ECHO_PATH,
                           {"--port", "0", "--stop-reading-after", "30", "--log-level", "warn"}));
  start_router({"--retry", "--backend-timeout", "300ms"});
  // Frames up to 1 MiB: the links to the backend that stopped fill past
  // their high-water mark, and the clients feeding them wait (blocked)
  // until the timeout gives the links up and wakes them.
  const ProgramRun r = stress(router->port(), {"--clients", "10", "--frames", "60", "--window", "8",
                                               "--max-size", "1048576", "--timeout", "20s"});
  EXPECT_EQ(r.status.code, 0) << r.out << r.err << log();
  EXPECT_NE(log().find("backend " + addr(*backends[2]) + " is down: no reply within 300ms"),
            std::string::npos)
      << log();
}

// One client with frames of 1 MiB, 16 in flight: the links to the backend
// that stops reading fill past their high-water mark, so the client is
// paused behind them, and no other link ever needs to drain. Marking that
// backend down must wake it, or it waits for its idle timeout.
TEST_F(Router, AClientBlockedBehindABackendThatStopsReadingIsWokenWhenItIsMarkedDown) {
  start_backends(1, FRAMED_SERVER_PATH, {});
  backends.push_back(spawn(FRAMED_DELAY_ECHO_PATH,
                           {"--port", "0", "--stop-reading-after", "1", "--log-level", "warn"}));
  start_router({"--retry", "--backend-timeout", "300ms"});
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", router->port()));
  constexpr std::size_t kSize = 1U << 20U;
  const auto request = [](std::size_t n, std::vector<std::byte>& out) {
    out.assign(kSize, static_cast<std::byte>(n));
  };
  const auto on_reply = [](std::size_t n, std::span<const std::byte> p) {
    return p.size() == kSize && p.front() == static_cast<std::byte>(n) &&
           p.back() == static_cast<std::byte>(n);
  };
  Client::PipelineOptions po;
  po.window = 16;
  po.timeout = 10'000ms;
  const Error e = c.pipeline(40, request, on_reply, po);
  EXPECT_FALSE(e) << e.message << "\n" << log();
  EXPECT_NE(log().find("is down: no reply within 300ms"), std::string::npos) << log();
}

// --backend-timeout counts from the reply before a frame when that came
// later than the frame: a backend answering one frame per 50 ms is slow,
// not down, even when the twentieth frame of a pipeline on its one
// connection waits 1 s for its reply (it was marked down at the eleventh).
TEST_F(Router, ABackendThatAnswersSteadilyIsNotMarkedDownForItsQueue) {
  start_backends(1, FRAMED_DELAY_ECHO_PATH, {"--service", "50ms"});
  start_router({"--backend-timeout", "500ms", "--backend-conns", "1"});
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", router->port()));
  const auto request = [](std::size_t n, std::vector<std::byte>& out) {
    out.assign(16, static_cast<std::byte>(n));
  };
  const auto on_reply = [](std::size_t n, std::span<const std::byte> p) {
    return p.size() == 16 && p.front() == static_cast<std::byte>(n);
  };
  Client::PipelineOptions po;
  po.window = 20;
  po.timeout = 10'000ms;
  const Error e = c.pipeline(20, request, on_reply, po);
  EXPECT_FALSE(e) << e.message << "\n" << log();
  EXPECT_EQ(log().find("is down"), std::string::npos) << log();
}

TEST_F(Router, TakesARestartedBackendBack) {
  start_backends(2, FRAMED_SERVER_PATH, {});
  start_router({"--probe-interval", "50ms"});
  const std::string port = std::to_string(backends[1]->port());
  backends[1]->send_signal(SIGKILL);
  (void)backends[1]->wait_exit(5s);
  ASSERT_TRUE(router->wait_for_log("backend 127.0.0.1:" + port + " is down", 10s)) << log();
  backends[1] = spawn(FRAMED_SERVER_PATH, {"--port", port, "--log-level", "info"});
  ASSERT_TRUE(router->wait_for_log("backend 127.0.0.1:" + port + " is up again", 10s)) << log();
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", router->port()));
  std::vector<std::byte> reply;
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(c.send_frame(as_span("x")));
    ASSERT_FALSE(c.receive_frame(reply, 10s));
  }
  EXPECT_EQ(echoed(*backends[1], 5), 5) << "round-robin over both again";
}

// Clients at --max-conns cannot take the slot a backend connection needs
// to be made again: a client arriving while the link is down is refused,
// and the link comes back (it failed with "max_conns connections are open"
// when clients and links shared one limit first come, first served).
TEST_F(Router, ClientsAtMaxConnsCannotTakeABackendLinksSlot) {
  start_backends(1, FRAMED_SERVER_PATH, {});
  start_router({"--max-conns", "2", "--probe-interval", "50ms"});
  Client a;
  Client b;
  std::vector<std::byte> reply;
  for (Client* c : {&a, &b}) {
    ASSERT_FALSE(c->connect("127.0.0.1", router->port()));
    ASSERT_FALSE(c->send_frame(as_span("x")));
    ASSERT_FALSE(c->receive_frame(reply, 10s)) << log();
  }
  const std::string port = std::to_string(backends[0]->port());
  backends[0]->send_signal(SIGKILL);
  (void)backends[0]->wait_exit(5s);
  ASSERT_TRUE(router->wait_for_log("backend 127.0.0.1:" + port + " is down", 10s)) << log();
  // The link's slot is free now; a third client, which would hold it
  // without a word (no frame, so no "no backend is up"), is refused.
  Client late;
  ASSERT_FALSE(late.connect("127.0.0.1", router->port()));
  EXPECT_EQ(late.receive_frame(reply, 5s).code, Errc::closed);
  backends[0] = spawn(FRAMED_SERVER_PATH, {"--port", port, "--log-level", "warn"});
  ASSERT_TRUE(router->wait_for_log("backend 127.0.0.1:" + port + " is up again", 10s)) << log();
  for (Client* c : {&a, &b}) {
    ASSERT_FALSE(c->send_frame(as_span("y")));
    ASSERT_FALSE(c->receive_frame(reply, 10s)) << log();
  }
}

// A descriptor limit too low for the backend connections' reserve is said
// in the terms of the limit, not of an option a router user cannot set;
// one that leaves room for some clients cuts only their share.
TEST_F(Router, ADescriptorLimitTooLowForThePoolsIsSaidPlainly) {
  ProgramRun r;
  r.status = run_to_exit("/usr/bin/prlimit",
                         {"--nofile=60:60", FRAMED_ROUTER_PATH, "--listen", "127.0.0.1:0",
                          "--backend", "127.0.0.1:1", "--backend-conns", "8", "--workers", "4"},
                         r.out, r.err, 10'000ms);
  EXPECT_TRUE(r.status.exited && r.status.code == 1) << r.err;
  EXPECT_NE(r.err.find("RLIMIT_NOFILE leaves room for 32 connection(s), no more than the 64 kept "
                       "for outbound connections; raise it (ulimit -n)"),
            std::string::npos)
      << r.err;
  auto p = std::make_unique<ServerProcess>();
  SpawnOptions o;
  o.args = {"--nofile=100:100", FRAMED_ROUTER_PATH, "--listen",    "127.0.0.1:0",
            "--backend",        "127.0.0.1:1",      "--max-conns", "1000"};
  std::string error;
  ASSERT_TRUE(p->start("/usr/bin/prlimit", o, error)) << error;
  EXPECT_NE(p->stderr_text().find("--max-conns 1000 needs more file descriptors than "
                                  "RLIMIT_NOFILE allows (100); serving at most 80 client "
                                  "connections (and 4 outbound)"),
            std::string::npos)
      << p->stderr_text();
}

TEST_F(Router, ClosesClientsCleanlyWhenNoBackendIsUp) {
  const std::uint16_t closed_port = 1;  // tcpmux: nothing listens there.
  router = spawn(FRAMED_ROUTER_PATH, {"--listen", "127.0.0.1:0", "--backend",
                                      "127.0.0.1:" + std::to_string(closed_port)});
  ASSERT_TRUE(router->wait_for_log("is down", 10s)) << log();
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", router->port()));
  ASSERT_FALSE(c.send_frame(as_span("hello")));
  std::vector<std::byte> reply;
  const Error e = c.receive_frame(reply, 10s);
  EXPECT_EQ(e.code, Errc::closed) << e.message;
  EXPECT_TRUE(router->wait_for_log("closed: no backend is up", 5s)) << log();
}

// SIGTERM with frames in flight: each is answered, then the client is
// closed, and the router exits 0.
TEST_F(Router, TheDrainAnswersEveryFrameInFlight) {
  start_backends(2, FRAMED_DELAY_ECHO_PATH, {"--delay-max", "400ms"});
  start_router({});
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", router->port()));
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(c.send_frame(as_span(std::to_string(i))));
  std::this_thread::sleep_for(50ms);
  router->send_signal(SIGTERM);
  std::vector<std::byte> reply;
  for (int i = 0; i < 10; ++i) {
    const Error e = c.receive_frame(reply, 10s);
    ASSERT_FALSE(e) << i << ": " << e.message << "\n" << log();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(reply.data()), reply.size()),
              std::to_string(i));
  }
  EXPECT_EQ(c.receive_frame(reply, 10s).code, Errc::closed);
  const auto status = router->wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 0) << log();
  EXPECT_EQ(log().find("force-closing"), std::string::npos) << "nothing cut:\n" << log();
}

TEST_F(Router, ServesMetricsPerBackend) {
  start_backends(2, FRAMED_SERVER_PATH, {});
  start_router({"--metrics", "127.0.0.1:0"});
  std::smatch m;
  std::string text;
  for (int i = 0; i < 100 && !std::regex_search(text = log(), m,
                             std::regex("metrics on http://127\\.0\\.0\\.1:([0-9]+)/"));
       ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(m.empty()) << text;
  const auto metrics_port = static_cast<std::uint16_t>(std::stoi(m[1]));
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", router->port()));
  std::vector<std::byte> reply;
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(c.send_frame(as_span("m")));
    ASSERT_FALSE(c.receive_frame(reply, 10s));
  }
  auto fd = connect_local(metrics_port);
  const Exchange ex =
      exchange(fd.get(), bytes_of("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
               SIZE_MAX, false, 5'000ms);
  const std::string body(reinterpret_cast<const char*>(ex.received.data()), ex.received.size());
  for (const auto& b : backends) {
    EXPECT_NE(body.find("framed_router_frames_forwarded_total{backend=\"" + addr(*b) + "\"} 2\n"),
              std::string::npos)
        << body;
    EXPECT_NE(body.find("framed_router_backend_up{backend=\"" + addr(*b) + "\"} 1\n"),
              std::string::npos);
  }
  EXPECT_NE(body.find("framed_connections_open"), std::string::npos);
  // --max-conns counts clients: the backend connections' reserve is not in it.
  EXPECT_NE(body.find("\nframed_connections_max 1024\n"), std::string::npos) << body;
  EXPECT_NE(log().find(", max-conns 1024 (and 8 kept for outbound),"), std::string::npos) << log();
}

TEST_F(Router, PassesTheWholeConformanceSuite) {
  start_backends(2, FRAMED_SERVER_PATH, {});
  start_router({});
  ProgramRun r;
  r.status =
      run_to_exit(FRAMED_CONFORM_PATH,
                  {"--port", std::to_string(router->port()), "--seed", "42", "--timeout", "10s"},
                  r.out, r.err, 110'000ms);
  EXPECT_EQ(r.status.code, 0) << r.out << r.err << log();
}

}  // namespace
}  // namespace framed::test
