// --max-conns-per-ip against the real binary: clients from 127.0.0.2 and
// 127.0.0.3 (loopback addresses of their own), on every backend and with
// two workers (the count is exact across them); then through HAProxy with
// send-proxy-v2, where every connection comes from HAProxy and the count
// follows the client each header names. The rules themselves are proven on
// the manual clock (tests/ip_limit_test.cc).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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

// A connection to 127.0.0.1:port from `source` (another loopback address).
net::UniqueFd connect_from(const std::string& source, std::uint16_t port) {
  net::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  sockaddr_in from{};
  from.sin_family = AF_INET;
  if (inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1) return {};
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    return {};
  }
  return fd;
}

bool echoes(int fd, const std::string& text) {
  const auto f = frame_of(text);
  const Exchange r = exchange(fd, f, f.size(), false, 5'000ms);
  return r.received == f;
}

// The server closed the connection cleanly, without a byte.
bool closed_cleanly(int fd) {
  const Exchange r = read_until_close(fd, 5'000ms);
  return r.eof && !r.reset && r.received.empty();
}

class PerIp : public BackendTest {};

TEST_P(PerIp, EachClientGetsItsLimitAndNoMore) {
  ServerProcess server;
  SpawnOptions o;
  o.args = {"--port", "0", "--max-conns-per-ip", "2"};
  o.args.insert(o.args.end(), GetParam().args.begin(), GetParam().args.end());
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  // 127.0.0.2 reaches its limit and is refused once; 127.0.0.3 holds two
  // as well. With two workers the connections spread over both.
  std::vector<net::UniqueFd> kept;
  for (const char* who : {"127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"}) {
    auto fd = connect_from(who, server.port());
    ASSERT_TRUE(fd.valid()) << who;
    ASSERT_TRUE(echoes(fd.get(), std::string("hello from ") + who)) << who;
    kept.push_back(std::move(fd));
  }
  auto third = connect_from("127.0.0.2", server.port());
  ASSERT_TRUE(third.valid());
  EXPECT_TRUE(closed_cleanly(third.get()));
  EXPECT_TRUE(
      server.wait_for_log("refused: 127.0.0.2 holds 2 connection(s), the "
                          "--max-conns-per-ip limit",
                          5s))
      << server.stderr_text();
  // Everyone kept is still served, and a slot comes back with a close.
  for (auto& fd : kept) EXPECT_TRUE(echoes(fd.get(), "still here"));
  kept.front().reset();
  bool admitted = false;
  for (int i = 0; i < 100 && !admitted; ++i) {
    auto again = connect_from("127.0.0.2", server.port());
    admitted = again.valid() && echoes(again.get(), "my turn");
    if (!admitted) std::this_thread::sleep_for(20ms);
    if (admitted) kept.push_back(std::move(again));
  }
  EXPECT_TRUE(admitted);
  const std::string line = server.counters_line();
  EXPECT_NE(line.find("refused per ip "), std::string::npos) << line;
  EXPECT_EQ(line.find("refused per ip 0"), std::string::npos) << line;
}

INSTANTIATE_TEST_SUITE_P(Backends, PerIp, ::testing::ValuesIn(backend_cases()), backend_case_name);

TEST(PerIpCommandLine, ABadCountExitsTwo) {
  std::string out;
  std::string err;
  const auto st = run_to_exit(FRAMED_SERVER_PATH, {"--max-conns-per-ip", "many"}, out, err, 10s);
  EXPECT_TRUE(st.exited && st.code == 2) << err;
  EXPECT_NE(err.find("--max-conns-per-ip"), std::string::npos) << err;
}

// Through HAProxy (mode tcp, send-proxy-v2): every connection reaches the
// server from HAProxy's address, and the count follows the client that
// each PROXY header names.
TEST(PerIpBehindHaproxy, TheCountFollowsTheRealClient) {
  const std::string haproxy = find_program("haproxy");
  if (haproxy.empty()) GTEST_SKIP() << "haproxy is not installed: scripts/setup.sh installs it";
  ServerProcess server;
  SpawnOptions o;
  o.args = {"--host",      "127.0.0.1",          "--port", "0", "--proxy-protocol", "--proxy-from",
            "127.0.0.0/8", "--max-conns-per-ip", "1"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  char tmpl[] = "/tmp/framed-perip-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  Daemon proxy;
  std::uint16_t front = 0;
  bool up = false;
  for (int attempt = 0; attempt < 2 && !up; ++attempt) {
    front = free_port();
    const std::string cfg = dir + "/haproxy.cfg";
    std::ofstream(cfg) << "global\n    maxconn 256\ndefaults\n    mode tcp\n"
                          "    timeout connect 1s\n    timeout client 1m\n    timeout server 1m\n"
                          "frontend f\n    bind 127.0.0.1:"
                       << front
                       << "\n    default_backend b\nbackend b\n"
                          "    server s 127.0.0.1:"
                       << server.port() << " send-proxy-v2\n";
    ASSERT_TRUE(proxy.start(haproxy, {"-f", cfg, "-db"}, cfg + ".log", error)) << error;
    const auto until = Clock::now() + 10s;
    while (!up && Clock::now() < until && proxy.alive()) {
      auto fd = connect_from("127.0.0.9", front);
      up = fd.valid() && echoes(fd.get(), "ready?");
      if (!up) std::this_thread::sleep_for(50ms);
    }
    if (!up) proxy.stop();
  }
  ASSERT_TRUE(up) << proxy.output();
  auto a = connect_from("127.0.0.2", front);
  auto b = connect_from("127.0.0.3", front);
  ASSERT_TRUE(a.valid() && b.valid());
  EXPECT_TRUE(echoes(a.get(), "client two"));
  EXPECT_TRUE(echoes(b.get(), "client three"));
  auto again = connect_from("127.0.0.2", front);
  ASSERT_TRUE(again.valid());
  EXPECT_TRUE(closed_cleanly(again.get()));
  EXPECT_TRUE(server.wait_for_log("refused: 127.0.0.2 holds 1 connection(s)", 5s))
      << server.stderr_text();
  EXPECT_TRUE(echoes(a.get(), "unaffected"));
  EXPECT_TRUE(echoes(b.get(), "unaffected"));
  proxy.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace framed::test
