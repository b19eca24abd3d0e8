// framed-server --metrics against the real binary: what /metrics and
// /healthz answer, the exposition as promtool checks it, a real Prometheus
// 2.42 scraping the server during the 50x100 stress (it must count every
// frame sent), and hostile scrapers (slowloris, a flood of idle
// connections, a 1 MiB request line, unknown paths, other methods,
// HTTP/1.0, pipelining), none of which may touch the frame path.
// Prometheus and promtool tests are skipped, saying why, when Debian's
// `prometheus` is not installed (scripts/setup.sh installs it).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends.h"
#include "daemon.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;
  std::string headers;
  std::string body;
  bool closed = false;  // The server closed the connection after it.
};

// Sends `request` whole and reads until the server closes.
Reply http(std::uint16_t port, const std::string& request, milliseconds timeout = 5'000ms) {
  Reply r;
  auto fd = connect_local(port);
  if (!fd.valid()) return r;
  const Exchange ex = exchange(fd.get(), bytes_of(request), SIZE_MAX, false, timeout);
  const std::string text(reinterpret_cast<const char*>(ex.received.data()), ex.received.size());
  r.closed = ex.eof || ex.reset;
  const auto end = text.find("\r\n\r\n");
  if (text.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
  r.status = std::stoi(text.substr(9, 3));
  r.headers = text.substr(0, end);
  r.body = text.substr(end + 4);
  return r;
}

Reply get(std::uint16_t port, const std::string& path) {
  // Prometheus's own API keeps connections open unless told.
  return http(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

// The value of one sample line ("name{labels} value"), or -1.
double sample(const std::string& exposition, const std::string& series) {
  std::size_t at = 0;
  while ((at = exposition.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || exposition[at - 1] == '\n') {
      return std::stod(exposition.substr(at + series.size() + 1));
    }
    at += series.size();
  }
  return -1;
}

class Metrics : public ::testing::Test {
 protected:
  ServerProcess server;
  std::uint16_t metrics_port = 0;

  void start(std::vector<std::string> extra = {}) {
    SpawnOptions o;
    o.args = {"--port", "0", "--metrics", "127.0.0.1:0"};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
    ASSERT_TRUE(server.wait_for_log("/metrics (and /healthz)", 5s)) << server.stderr_text();
    std::smatch m;
    const std::string log = server.stderr_text();
    ASSERT_TRUE(
        std::regex_search(log, m, std::regex("metrics on http://127\\.0\\.0\\.1:([0-9]+)/")))
        << log;
    metrics_port = static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  // n frames echoed on one connection.
  void echo_frames(int n) {
    auto fd = connect_local(server.port());
    ASSERT_TRUE(fd.valid());
    std::vector<std::byte> all;
    for (int i = 0; i < n; ++i) {
      const auto f = frame_of("frame " + std::to_string(i));
      all.insert(all.end(), f.begin(), f.end());
    }
    const Exchange ex = exchange(fd.get(), all, all.size(), true);
    ASSERT_EQ(ex.received, all);
  }
};

TEST_F(Metrics, ServesTheCountersInTheTextFormat) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(echo_frames(7));
  // The worker counts an echo once its write(2) returns, which can be just
  // after the client has read it (found under ASan): scrape until the
  // last frame is counted (bounded), then every figure must be exact.
  Reply r;
  for (int i = 0; i < 250; ++i) {
    r = get(metrics_port, "/metrics");
    if (sample(r.body, "framed_frames_sent_total") == 7) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(r.status, 200) << r.headers;
  EXPECT_NE(r.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
            std::string::npos)
      << r.headers;
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(sample(r.body, "framed_frames_received_total"), 7) << r.body;
  EXPECT_EQ(sample(r.body, "framed_frames_sent_total"), 7) << r.body;
  EXPECT_EQ(sample(r.body, "framed_connections_accepted_total"), 1) << r.body;
  EXPECT_EQ(sample(r.body, "framed_frame_size_bytes_count"), 7) << r.body;
  EXPECT_EQ(sample(r.body, "framed_frame_size_bytes_bucket{le=\"16\"}"), 7) << r.body;
  EXPECT_NE(r.body.find("framed_build_info{version=\""), std::string::npos) << r.body;
  EXPECT_EQ(sample(r.body, "framed_draining"), 0) << r.body;
  EXPECT_EQ(sample(r.body, "framed_reply_latency_seconds_count"), 7) << r.body;
  EXPECT_GT(sample(r.body, "framed_received_bytes_total"), 7 * 4) << r.body;
  EXPECT_EQ(sample(r.body, "framed_received_bytes_total"),
            sample(r.body, "framed_sent_bytes_total"))
      << "an echo sends what it received";
  EXPECT_GT(sample(r.body, "framed_worker_busy_seconds_total{worker=\"0\"}"), 0) << r.body;
  EXPECT_GE(sample(r.body, "framed_connections_closed_total{reason=\"eof\"}"), 0) << r.body;
}

TEST_F(Metrics, PromtoolAcceptsTheExposition) {
  const std::string promtool = find_program("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool is not installed (Debian's prometheus)";
  ASSERT_NO_FATAL_FAILURE(start({"--max-conns-per-ip", "4"}));
  ASSERT_NO_FATAL_FAILURE(echo_frames(3));
  const Reply r = get(metrics_port, "/metrics");
  ASSERT_EQ(r.status, 200);
  std::string out;
  std::string err;
  const auto st = run_to_exit(promtool, {"check", "metrics"}, out, err, 30s, r.body);
  EXPECT_TRUE(st.exited && st.code == 0) << out << err << "\n" << r.body;
  EXPECT_EQ(out + err, "") << "promtool's lint found something";
}

TEST_F(Metrics, HealthzSays503OnceTheDrainHasBegun) {
  ASSERT_NO_FATAL_FAILURE(start({"--drain-timeout", "20s"}));
  EXPECT_EQ(get(metrics_port, "/healthz").status, 200);
  // A frame in progress keeps the drain going.
  auto busy = connect_local(server.port());
  ASSERT_TRUE(busy.valid());
  const auto half = std::vector<std::byte>{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{9}};
  ASSERT_TRUE(write_all(busy.get(), half));
  std::this_thread::sleep_for(100ms);
  server.send_signal(SIGTERM);
  Reply r;
  for (int i = 0; i < 100 && r.status != 503; ++i) {
    r = get(metrics_port, "/healthz");
    if (r.status != 503) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.body, "draining\n");
  EXPECT_EQ(sample(get(metrics_port, "/metrics").body, "framed_draining"), 1);
  busy.reset();
  EXPECT_TRUE(server.wait_exit(10s).has_value());
}

TEST_F(Metrics, HostileRequestsGetAnAnswerAndTheFramePathGoesOn) {
  ASSERT_NO_FATAL_FAILURE(start({"--metrics-timeout", "400ms"}));
  EXPECT_EQ(get(metrics_port, "/nope").status, 404);
  Reply r = http(metrics_port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.headers.find("Allow: GET, HEAD"), std::string::npos) << r.headers;
  r = http(metrics_port, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.closed);
  r = http(metrics_port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  // Pipelined: the first is answered, then the connection closes.
  r = http(metrics_port, "GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n") << "one response only";
  EXPECT_TRUE(r.closed);
  r = http(metrics_port, "\x16\x03\x01\x00\x05hello");
  EXPECT_EQ(r.status, 400);
  // A 1 MiB request line: refused at the limit (431), never read whole.
  {
    auto fd = connect_local(metrics_port);
    ASSERT_TRUE(fd.valid());
    const std::string line = "GET /" + std::string(1U << 20U, 'a');
    const Exchange ex = exchange(fd.get(), bytes_of(line), SIZE_MAX, false, 5'000ms);
    const std::string text(reinterpret_cast<const char*>(ex.received.data()), ex.received.size());
    EXPECT_EQ(text.substr(0, 13), "HTTP/1.1 431 ") << text.substr(0, 100);
  }
  // Slowloris: a byte every 100 ms never completes a request; the
  // connection is closed at the timeout.
  {
    auto fd = connect_local(metrics_port);
    ASSERT_TRUE(fd.valid());
    const std::string slow = "GET /metrics HTTP/1.1\r\nX: ";
    const auto start = Clock::now();
    bool closed = false;
    for (std::size_t i = 0; i < 100 && !closed; ++i) {
      const char c = i < slow.size() ? slow[i] : 'x';
      closed = ::send(fd.get(), &c, 1, MSG_NOSIGNAL) != 1;
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[64];
        closed = ::recv(fd.get(), buf, sizeof buf, 0) <= 0;
      }
    }
    EXPECT_TRUE(closed);
    EXPECT_LT(Clock::now() - start, 3s);
  }
  // A flood of idle connections: the listener keeps at most its bound, the
  // frame path answers meanwhile, and once their time is up a scrape is
  // served again.
  std::vector<net::UniqueFd> idle;
  for (int i = 0; i < 1000; ++i) {
    auto fd = connect_local(metrics_port);
    if (fd.valid()) idle.push_back(std::move(fd));
  }
  ASSERT_NO_FATAL_FAILURE(echo_frames(10));
  // The endpoint holds at most 64 of them: the rest were closed at once.
  std::size_t fds = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(server.pid()) + "/fd")) {
    (void)entry;
    ++fds;
  }
  EXPECT_LT(fds, 150U) << "descriptors held by the server during the flood";
  std::this_thread::sleep_for(600ms);
  bool scraped = false;
  Reply last;
  for (int i = 0; i < 50 && !scraped; ++i) {
    last = get(metrics_port, "/metrics");
    scraped = last.status == 200;
    if (!scraped) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(scraped);
  // The endpoint counted what it refused and what it timed out.
  EXPECT_GT(sample(last.body, "framed_metrics_http_refused_total"), 0) << last.body;
  EXPECT_GT(sample(last.body, "framed_metrics_http_timeouts_total"), 0) << last.body;
  EXPECT_GT(sample(last.body, "framed_metrics_http_requests_total"), 5) << last.body;
  idle.clear();
  ASSERT_NO_FATAL_FAILURE(echo_frames(10));
  EXPECT_EQ(::kill(server.pid(), 0), 0) << server.stderr_text();
}

// --log-format json during the 50x100 stress, on each transport: every line
// is a JSON object jq reads, with the fields each event promises, and the
// closes the log reports by reason are the ones the metrics count.
class JsonLogs : public BackendTest {};

TEST_P(JsonLogs, EveryLineParsesAndTheClosesMatchTheCounters) {
  const std::string jq = find_program("jq");
  if (jq.empty()) GTEST_SKIP() << "jq is not installed (scripts/setup.sh installs it)";
  ServerProcess server;
  SpawnOptions o;
  o.args = {"--port",       "0",    "--metrics",   "127.0.0.1:0",
            "--log-format", "json", "--log-level", "debug"};
  o.args.insert(o.args.end(), GetParam().args.begin(), GetParam().args.end());
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  ASSERT_TRUE(server.wait_for_log("\"event\":\"metrics_listening\"", 5s)) << server.stderr_text();
  std::smatch m;
  const std::string head = server.stderr_text();
  ASSERT_TRUE(std::regex_search(head, m, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/")));
  const auto metrics_port = static_cast<std::uint16_t>(std::stoi(m[1]));
  std::string out;
  std::string err;
  const auto st = run_to_exit(FRAMED_STRESS_PATH,
                              {"--port", std::to_string(server.port()), "--clients", "50",
                               "--frames", "100", "--seed", "11"},
                              out, err, 120s);
  ASSERT_TRUE(st.exited && st.code == 0) << out << err;
  // Every connection closed (the last closes linger until their peers' EOF).
  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    metrics = get(metrics_port, "/metrics").body;
    if (sample(metrics, "framed_connections_open") == 0) break;
    std::this_thread::sleep_for(25ms);
  }
  ASSERT_EQ(sample(metrics, "framed_connections_open"), 0) << metrics;
  server.send_signal(SIGTERM);
  ASSERT_TRUE(server.wait_exit(10s).has_value());
  const std::string log = server.stderr_text();
  // jq reads every line (one fails: jq exits non-zero).
  ASSERT_TRUE(run_to_exit(jq, {"-e", "-c", "."}, out, err, 30s, log).code == 0) << err;
  // Each line has time (RFC 3339, UTC), level, event and msg; each event
  // about a connection has its peer, id and worker.
  const auto st2 = run_to_exit(
      jq,
      {"-r",
       "select((.time | "
       "test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\\\.[0-9]{3}Z$\")"
       " | not) or (.level | type) != \"string\" or (.event | type) != \"string\" or "
       "(.msg | type) != \"string\" or ((.event == \"closed\" or .event == \"closing\" or "
       ".event == \"accepted\") and ((.peer | type) != \"string\" or (.conn | type) != "
       "\"number\" or (.worker | type) != \"number\"))) | \"bad: \" + tostring"},
      out, err, 30s, log);
  ASSERT_EQ(st2.code, 0) << err;
  EXPECT_EQ(out, "") << "lines without the promised fields";
  // The closes by reason, from the log and from the metrics.
  run_to_exit(jq, {"-r", "select(.event == \"closed\") | .reason"}, out, err, 30s, log);
  std::map<std::string, int> logged;
  std::stringstream reasons(out);
  std::string reason;
  int total = 0;
  while (std::getline(reasons, reason)) {
    ++logged[reason];
    ++total;
  }
  EXPECT_GE(total, 50) << out;
  double counted = 0;
  std::stringstream lines(metrics);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("framed_connections_closed_total{")) {
      counted += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  EXPECT_EQ(counted, total) << metrics;
  for (const auto& [r, n] : logged) {
    EXPECT_EQ(sample(metrics, "framed_connections_closed_total{reason=\"" + r + "\"}"), n) << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, JsonLogs, ::testing::ValuesIn(backend_cases()),
                         backend_case_name);

TEST(MetricsCommandLine, BadAddressesAndTakenPortsExitWithTheReason) {
  std::string out;
  std::string err;
  auto st = run_to_exit(FRAMED_SERVER_PATH, {"--port", "0", "--metrics", "127.0.0.1:http"}, out,
                        err, 10s);
  EXPECT_TRUE(st.exited && st.code == 2) << err;
  EXPECT_NE(err.find("--metrics"), std::string::npos) << err;
  // The metrics port taken: the server does not start, and says why.
  ServerProcess first;
  SpawnOptions o;
  o.args = {"--port", "0"};
  std::string error;
  ASSERT_TRUE(first.start(FRAMED_SERVER_PATH, o, error)) << error;
  st = run_to_exit(FRAMED_SERVER_PATH,
                   {"--port", "0", "--metrics", "127.0.0.1:" + std::to_string(first.port())}, out,
                   err, 10s);
  EXPECT_TRUE(st.exited && st.code == 1) << err;
  EXPECT_NE(err.find("cannot listen for metrics on 127.0.0.1 port " + std::to_string(first.port()) +
                     ": "),
            std::string::npos)
      << err;
}

// A real Prometheus (Debian's 2.42) scrapes the server every second while
// the 50x100 stress runs; its HTTP API must then report exactly the frames
// sent.
TEST_F(Metrics, PrometheusScrapesExactlyTheFramesSent) {
  const std::string prometheus = find_program("prometheus");
  if (prometheus.empty()) GTEST_SKIP() << "prometheus is not installed (scripts/setup.sh)";
  ASSERT_NO_FATAL_FAILURE(start());
  char tmpl[] = "/tmp/framed-prom-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string cfg = dir + "/prometheus.yml";
  std::ofstream(cfg) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "scrape_configs:\n  - job_name: framed\n    static_configs:\n"
                        "      - targets: ['127.0.0.1:"
                     << metrics_port << "']\n";
  Daemon prom;
  std::uint16_t api = 0;
  bool up = false;
  for (int attempt = 0; attempt < 2 && !up; ++attempt) {
    api = free_port();
    std::string error;
    ASSERT_TRUE(prom.start(prometheus,
                           {"--config.file=" + cfg, "--storage.tsdb.path=" + dir + "/data",
                            "--web.listen-address=127.0.0.1:" + std::to_string(api)},
                           dir + "/prometheus.log", error))
        << error;
    for (int i = 0; i < 200 && !up && prom.alive(); ++i) {
      up = get(api, "/-/ready").status == 200;
      if (!up) std::this_thread::sleep_for(50ms);
    }
    if (!up) prom.stop();
  }
  ASSERT_TRUE(up) << prom.output();
  std::string out;
  std::string err;
  const auto st = run_to_exit(FRAMED_STRESS_PATH,
                              {"--port", std::to_string(server.port()), "--clients", "50",
                               "--frames", "100", "--seed", "7"},
                              out, err, 120s);
  ASSERT_TRUE(st.exited && st.code == 0) << out << err;
  // Prometheus sees the final count within a few scrapes.
  std::string last;
  bool exact = false;
  for (int i = 0; i < 100 && !exact; ++i) {
    const Reply q = get(api, "/api/v1/query?query=framed_frames_sent_total");
    last = q.body;
    exact = q.status == 200 && q.body.find("\"5000\"]") != std::string::npos;
    if (!exact) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(exact) << last << "\n" << prom.output();
  const Reply up_q = get(api, "/api/v1/query?query=up");
  EXPECT_NE(up_q.body.find("\"1\"]"), std::string::npos) << up_q.body;
  prom.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace framed::test
