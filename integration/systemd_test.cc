// framed-server under systemd's protocols, without systemd running: socket
// activation through systemd-socket-activate (the tool systemd ships for
// exactly this), and readiness notification to a datagram socket the test
// owns, as the manager's NOTIFY_SOCKET would be. Also --version of every
// program, against framed/version.h.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "framed/version.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A port that was free a moment ago: bound to port 0 on loopback, then
// closed. Another process may take it before we do, so callers retry once.
std::uint16_t free_port() {
  const net::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return 0;
  }
  return ntohs(a.sin_port);
}

// The datagram socket a service manager listens on for sd_notify messages,
// at a temporary path.
class NotifySocket {
 public:
  NotifySocket() {
    char tmpl[] = "/tmp/framed-notify-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    path_ = dir_ + "/notify";
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.c_str(), path_.size() + 1);
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fd_.reset();
  }
  ~NotifySocket() {
    if (dir_.empty()) return;
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] bool valid() const { return fd_.valid(); }
  [[nodiscard]] const std::string& path() const { return path_; }

  // The next message, or "" when none arrives within `timeout`.
  [[nodiscard]] std::string receive(std::chrono::milliseconds timeout) const {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return {};
    char buf[1024];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  net::UniqueFd fd_;
  std::string dir_;
  std::string path_;
};

bool contains_line(const std::string& message, const std::string& line) {
  return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
}

void expect_echo(int fd, const std::string& text, const ServerProcess& server) {
  const auto frame = frame_of(text);
  const auto ex = exchange(fd, frame, frame.size(), false);
  EXPECT_EQ(ex.received, frame) << "server log:\n" << server.stderr_text();
}

// --- --version: every program prints its name and FRAMED_VERSION.

struct Program {
  const char* name;
  const char* path;
};

// Names the case in ctest's list by the program, not its bytes.
void PrintTo(const Program& p, std::ostream* os) { *os << p.name; }

class Version : public ::testing::TestWithParam<Program> {};

TEST_P(Version, PrintsTheVersionFromVersionH) {
  if (std::string(GetParam().path).empty()) GTEST_SKIP() << GetParam().name << " is not built";
  std::string out;
  std::string err;
  const ExitStatus s = run_to_exit(GetParam().path, {"--version"}, out, err, 10s);
  EXPECT_TRUE(s.exited && s.code == 0) << err;
  EXPECT_EQ(out, std::string(GetParam().name) + " " + FRAMED_VERSION + "\n");
  EXPECT_EQ(err, "");
}

INSTANTIATE_TEST_SUITE_P(Programs, Version,
                         ::testing::Values(Program{"framed-server", FRAMED_SERVER_PATH},
                                           Program{"framed-client", FRAMED_CLIENT_PATH},
                                           Program{"framed-conform", FRAMED_CONFORM_PATH},
                                           Program{"framed-bench", FRAMED_BENCH_PATH}),
                         [](const auto& p) {
                           std::string n = p.param.name;
                           n.erase(0, n.find('-') + 1);
                           return n;
                         });

// --- Socket activation under systemd-socket-activate.

class SocketActivation : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (std::string(FRAMED_SOCKET_ACTIVATE_PATH).empty()) {
      GTEST_SKIP() << "systemd-socket-activate is not installed (Debian's systemd package)";
    }
  }

  // Starts framed-server under systemd-socket-activate on a free port with
  // `server_args`, and makes the first connection, which is what makes the
  // tool exec the server. Retries once with another port should the first
  // be taken meanwhile.
  void start(const std::vector<std::string>& server_args,
             const std::vector<std::string>& env = {}) {
    std::string error;
    for (int attempt = 0; attempt < 2; ++attempt) {
      port_ = free_port();
      ASSERT_NE(port_, 0);
      SpawnOptions options;
      options.args = {"-l", "127.0.0.1:" + std::to_string(port_)};
      for (const auto& e : env) options.args.insert(options.args.end(), {"-E", e});
      options.args.push_back(FRAMED_SERVER_PATH);
      options.args.insert(options.args.end(), server_args.begin(), server_args.end());
      options.startup_timeout = 15s;
      // The tool waits for a client before it starts the server, so the
      // first connection is made while start() waits for "listening on".
      net::UniqueFd first;
      std::thread connector([&] {
        const auto give_up = Clock::now() + 10s;
        while (!first && Clock::now() < give_up) {
          first = connect_local(port_, "127.0.0.1", 1s);
          if (!first) std::this_thread::sleep_for(20ms);
        }
      });
      server_ = std::make_unique<ServerProcess>();
      const bool started = server_->start(FRAMED_SOCKET_ACTIVATE_PATH, options, error);
      connector.join();
      if (started) {
        ASSERT_TRUE(first.valid()) << "the first connection failed";
        first_ = std::move(first);
        return;
      }
      server_.reset();  // Kills and reaps whatever was started.
    }
    FAIL() << "systemd-socket-activate did not start framed-server: " << error;
  }

  std::uint16_t port_ = 0;
  std::unique_ptr<ServerProcess> server_;
  net::UniqueFd first_;
};

TEST_P(SocketActivation, ServesTheInheritedSocketAndIgnoresHostAndPort) {
  const int workers = GetParam();
  // Listening on 192.0.2.1:1 (a documentation address) would fail: the
  // server only runs if it takes the inherited socket instead.
  ASSERT_NO_FATAL_FAILURE(start({"--host", "192.0.2.1", "--port", "1", "--workers",
                                 std::to_string(workers), "--log-level", "debug"}));
  EXPECT_EQ(server_->listening_line(), "listening on 127.0.0.1:" + std::to_string(port_));
  EXPECT_TRUE(server_->wait_for_log("using the inherited listening socket", 5s))
      << server_->stderr_text();
  EXPECT_NE(server_->stderr_text().find("shared by " + std::to_string(workers) + " worker(s)"),
            std::string::npos)
      << server_->stderr_text();
  // The connection that activated the server was queued on the socket
  // before the server existed: it is served like any other.
  expect_echo(first_.get(), "first", *server_);
  // Several connections at once, so with two workers both take some.
  std::vector<net::UniqueFd> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(connect_local(port_));
    ASSERT_TRUE(clients.back().valid()) << "connection " << i;
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    expect_echo(clients[i].get(), "frame " + std::to_string(i), *server_);
  }
  clients.clear();
  first_.reset();
  server_->send_signal(SIGTERM);
  const auto status = server_->wait_exit(15s);
  ASSERT_TRUE(status.has_value()) << "no exit after SIGTERM; log:\n" << server_->stderr_text();
  EXPECT_TRUE(status->exited && status->code == 0) << server_->stderr_text();
  // Every worker ran on the one socket: the exit report (per worker at
  // debug level) names the last one.
  if (workers > 1) {
    EXPECT_NE(
        server_->stderr_text().find("worker " + std::to_string(workers - 1) + " counters (exit)"),
        std::string::npos)
        << server_->stderr_text();
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, SocketActivation, ::testing::Values(1, 2),
                         [](const auto& p) { return std::to_string(p.param) + "_workers"; });

TEST_F(SocketActivation, NotifiesReadinessAsAnActivatedService) {
  // Both protocols at once, as framed-server.service runs: the manager
  // passes the socket and the notify socket.
  NotifySocket notify;
  ASSERT_TRUE(notify.valid());
  ASSERT_NO_FATAL_FAILURE(start({"--port", "0"}, {"NOTIFY_SOCKET=" + notify.path()}));
  const std::string ready = notify.receive(5s);
  EXPECT_TRUE(contains_line(ready, "READY=1")) << "got '" << ready << "'";
  EXPECT_TRUE(contains_line(ready, "STATUS=listening on 127.0.0.1:" + std::to_string(port_)))
      << "got '" << ready << "'";
  expect_echo(first_.get(), "after ready", *server_);
  first_.reset();
  server_->send_signal(SIGTERM);
  EXPECT_TRUE(contains_line(notify.receive(5s), "STOPPING=1"));
  const auto status = server_->wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << server_->stderr_text();
}

TEST_F(SocketActivation, TwoSocketsAreRefusedWithAReason) {
  // framed-server takes exactly one socket; a unit with two ListenStream=
  // lines must fail visibly rather than serve one of them silently.
  std::string error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::uint16_t one = free_port();
    std::uint16_t two = free_port();
    while (two == one) two = free_port();
    ASSERT_NE(one, 0);
    ASSERT_NE(two, 0);
    SpawnOptions options;
    options.args = {"-l", "127.0.0.1:" + std::to_string(one), "-l",
                    "127.0.0.1:" + std::to_string(two), FRAMED_SERVER_PATH};
    options.startup_timeout = 15s;
    ServerProcess server;
    net::UniqueFd client;
    std::thread connector([&] {
      const auto give_up = Clock::now() + 10s;
      while (!client && Clock::now() < give_up) {
        client = connect_local(one, "127.0.0.1", 1s);
        if (!client) std::this_thread::sleep_for(20ms);
      }
    });
    EXPECT_FALSE(server.start(FRAMED_SOCKET_ACTIVATE_PATH, options, error));
    connector.join();
    // A port taken meanwhile makes the tool itself fail: try other ports.
    if (error.find("Address already in use") == std::string::npos) break;
  }
  EXPECT_NE(error.find("socket activation passed 2 sockets; expected one"), std::string::npos)
      << error;
}

// --- Readiness notification, without socket activation.

TEST(Readiness, ReadyOnceListeningAndStoppingWhenTheDrainBegins) {
  NotifySocket notify;
  ASSERT_TRUE(notify.valid());
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--port", "0"};
  options.env = {"NOTIFY_SOCKET=" + notify.path()};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  const std::string ready = notify.receive(5s);
  EXPECT_TRUE(contains_line(ready, "READY=1")) << "got '" << ready << "'";
  EXPECT_TRUE(contains_line(ready, "STATUS=" + server.listening_line())) << "got '" << ready << "'";
  // READY=1 means a client can be served now.
  const net::UniqueFd fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  expect_echo(fd.get(), "ready", server);
  // Nothing more until the stop: STOPPING=1 early would make systemd treat a
  // serving instance as deactivating.
  EXPECT_EQ(notify.receive(200ms), "");
  server.send_signal(SIGTERM);
  const std::string stopping = notify.receive(5s);
  EXPECT_TRUE(contains_line(stopping, "STOPPING=1")) << "got '" << stopping << "'";
  EXPECT_NE(stopping.find("STATUS=draining 1 connection(s)"), std::string::npos) << stopping;
  const auto status = server.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << server.stderr_text();
}

TEST(Readiness, AnUnusableNotifySocketIsLoggedAndServingGoesOn) {
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--port", "0"};
  options.env = {"NOTIFY_SOCKET=relative/notify"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  EXPECT_TRUE(server.wait_for_log("not notifying systemd", 5s)) << server.stderr_text();
  const net::UniqueFd fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  expect_echo(fd.get(), "still serving", server);
  server.send_signal(SIGTERM);
  const auto status = server.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0);
}

// --- The LISTEN_* variables as the server reads them.

TEST(ListenFds, VariablesForAnotherProcessAreIgnored) {
  // A parent that leaked its own LISTEN_PID: the server listens itself.
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--port", "0"};
  options.env = {"LISTEN_PID=1", "LISTEN_FDS=1"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  EXPECT_EQ(server.stderr_text().find("inherited"), std::string::npos) << server.stderr_text();
  const net::UniqueFd fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  expect_echo(fd.get(), "own listener", server);
}

// A socket the service manager passed stays the manager's: at the stop the
// server closes its own descriptor but does not seal the socket (spec §6.7's
// seal is for a listener the server owns), so clients that connect while
// the next instance starts are queued for it, not dropped. Here the test is
// the manager: it holds the listening socket, passes it as descriptor 3,
// stops the server, and connects again.
TEST(ListenFds, AnInheritedSocketStillQueuesClientsAfterTheServerStops) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);  // Inherited: no CLOEXEC.
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::uint16_t port = ntohs(addr.sin_port);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{listener};

  ServerProcess server;
  SpawnOptions options;
  // bash moves the socket to descriptor 3 and names itself in LISTEN_PID;
  // exec keeps that pid for the server.
  const std::string move =
      listener == 3 ? "" : "exec 3<&" + std::to_string(listener) + " " + std::to_string(listener) + "<&-; ";
  options.args = {"-c", move + "export LISTEN_FDS=1 LISTEN_PID=$$; exec \"$0\"",
                  FRAMED_SERVER_PATH};
  std::string error;
  ASSERT_TRUE(server.start("/bin/bash", options, error)) << error;
  EXPECT_NE(server.stderr_text().find("inherited"), std::string::npos) << server.stderr_text();
  {
    const net::UniqueFd fd = connect_local(port);
    ASSERT_TRUE(fd.valid());
    expect_echo(fd.get(), "served on the inherited socket", server);
  }
  server.send_signal(SIGTERM);
  const auto status = server.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 0) << server.stderr_text();

  // The next instance's client: its handshake completes in the manager's
  // socket (a sealed socket would drop the SYN, and the connect time out).
  const net::UniqueFd next = connect_local(port, "127.0.0.1", 2s);
  EXPECT_TRUE(next.valid()) << "a client of the next instance was dropped";
  pollfd p{listener, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 2000), 1) << "nothing queued on the manager's socket";
}

TEST(ListenFds, MalformedVariablesStopTheStartWithAReason) {
  std::string out;
  std::string err;
  const ExitStatus s = run_to_exit(FRAMED_SERVER_PATH, {"--port", "0"}, out, err, 10s, "",
                                   {"LISTEN_PID=12abc", "LISTEN_FDS=1"});
  EXPECT_TRUE(s.exited && s.code == 1) << err;
  EXPECT_NE(err.find("socket activation: LISTEN_PID"), std::string::npos) << err;
  EXPECT_EQ(out, "") << "nothing may claim to listen";
}

}  // namespace
}  // namespace framed::test
