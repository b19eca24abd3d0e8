// The systemd protocols without libsystemd: LISTEN_FDS as sd_listen_fds(3)
// reads it, and NOTIFY_SOCKET datagrams as sd_notify(3) sends them.
#include "server/systemd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "net/fd.h"

namespace framed::server::systemd {
namespace {

// Tests cannot own descriptor 3 (the runner may hold it), so they pass
// sockets at a base far above anything gtest opens.
constexpr int kBase = 700;

void clear_environment() {
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  ::unsetenv("NOTIFY_SOCKET");
}

void set_listen_env(const std::string& pid, const std::string& count) {
  ::setenv("LISTEN_PID", pid.c_str(), 1);
  ::setenv("LISTEN_FDS", count.c_str(), 1);
  ::setenv("LISTEN_FDNAMES", "framed", 1);
}

bool environment_clear() {
  return std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
         std::getenv("LISTEN_FDNAMES") == nullptr;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }
bool has_cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

// A TCP socket listening on an ephemeral loopback port.
net::UniqueFd tcp_listener() {
  net::UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd.get(), 4) != 0) {
    return {};
  }
  return fd;
}

// Places `count` listening sockets at kBase.. without FD_CLOEXEC, as a
// manager passes them; closes them when the test ends.
class PassedSockets {
 public:
  explicit PassedSockets(int count) : count_(count) {
    for (int i = 0; i < count; ++i) {
      EXPECT_FALSE(is_open(kBase + i)) << "descriptor " << kBase + i << " is taken";
      net::UniqueFd s = tcp_listener();
      EXPECT_TRUE(s.valid());
      EXPECT_EQ(::dup2(s.get(), kBase + i), kBase + i);  // dup2 clears FD_CLOEXEC.
    }
  }
  ~PassedSockets() {
    for (int i = 0; i < count_; ++i) ::close(kBase + i);
  }
  PassedSockets(const PassedSockets&) = delete;
  PassedSockets& operator=(const PassedSockets&) = delete;

 private:
  int count_;
};

class ListenFdsTest : public ::testing::Test {
 protected:
  void SetUp() override { clear_environment(); }
  void TearDown() override { clear_environment(); }
};

TEST_F(ListenFdsTest, NoVariablesMeansNoSockets) {
  const ListenFds got = listen_fds(true, ::getpid(), kBase);
  EXPECT_TRUE(got.ok()) << got.error;
  EXPECT_EQ(got.count, 0);
}

TEST_F(ListenFdsTest, TakesEachPassedSocketAndMarksItCloexec) {
  PassedSockets passed(2);
  ASSERT_FALSE(has_cloexec(kBase));
  set_listen_env(std::to_string(::getpid()), "2");
  const ListenFds got = listen_fds(true, ::getpid(), kBase);
  ASSERT_TRUE(got.ok()) << got.error;
  EXPECT_EQ(got.first, kBase);
  EXPECT_EQ(got.count, 2);
  EXPECT_TRUE(has_cloexec(kBase));
  EXPECT_TRUE(has_cloexec(kBase + 1));
  EXPECT_TRUE(environment_clear()) << "the variables are read once";
  EXPECT_EQ(check_listening_tcp(kBase), "");
}

TEST_F(ListenFdsTest, AnotherProcessesSocketsAreIgnored) {
  // A parent that forgot to unset the variables: LISTEN_PID names it, not us.
  PassedSockets passed(1);
  set_listen_env(std::to_string(::getpid() + 1), "1");
  const ListenFds got = listen_fds(true, ::getpid(), kBase);
  EXPECT_TRUE(got.ok()) << got.error;
  EXPECT_EQ(got.count, 0);
  EXPECT_FALSE(has_cloexec(kBase)) << "a descriptor that is not ours is left alone";
  EXPECT_TRUE(environment_clear());
}

TEST_F(ListenFdsTest, VariablesStayWhenAsked) {
  PassedSockets passed(1);
  set_listen_env(std::to_string(::getpid()), "1");
  const ListenFds got = listen_fds(false, ::getpid(), kBase);
  EXPECT_EQ(got.count, 1);
  EXPECT_NE(std::getenv("LISTEN_PID"), nullptr);
  EXPECT_NE(std::getenv("LISTEN_FDS"), nullptr);
}

TEST_F(ListenFdsTest, ZeroOrMissingCountMeansNone) {
  set_listen_env(std::to_string(::getpid()), "0");
  EXPECT_EQ(listen_fds(true, ::getpid(), kBase).count, 0);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  const ListenFds got = listen_fds(true, ::getpid(), kBase);
  EXPECT_TRUE(got.ok());
  EXPECT_EQ(got.count, 0);
}

TEST_F(ListenFdsTest, MalformedVariablesAreErrors) {
  for (const auto& [pid, count] : {std::pair<std::string, std::string>{"12x", "1"},
                                   {"", "1"},
                                   {"-5", "1"},
                                   {std::to_string(::getpid()), "one"},
                                   {std::to_string(::getpid()), "-1"},
                                   {std::to_string(::getpid()), "99999999999"}}) {
    set_listen_env(pid, count);
    const ListenFds got = listen_fds(true, ::getpid(), kBase);
    EXPECT_FALSE(got.ok()) << "LISTEN_PID=" << pid << " LISTEN_FDS=" << count;
    EXPECT_EQ(got.count, 0);
    EXPECT_TRUE(environment_clear()) << "unset whatever the outcome";
  }
}

TEST_F(ListenFdsTest, AClosedDescriptorIsAnError) {
  ASSERT_FALSE(is_open(kBase));
  set_listen_env(std::to_string(::getpid()), "1");
  const ListenFds got = listen_fds(true, ::getpid(), kBase);
  EXPECT_FALSE(got.ok());
  EXPECT_NE(got.error.find(std::to_string(kBase)), std::string::npos) << got.error;
}

TEST(CheckListeningTcp, RefusesWhatTheWorkersCannotAcceptOn) {
  const net::UniqueFd listening = tcp_listener();
  EXPECT_EQ(check_listening_tcp(listening.get()), "");
  const net::UniqueFd unbound(::socket(AF_INET6, SOCK_STREAM, 0));
  EXPECT_NE(check_listening_tcp(unbound.get()).find("not listening"), std::string::npos);
  const net::UniqueFd udp(::socket(AF_INET, SOCK_DGRAM, 0));
  EXPECT_NE(check_listening_tcp(udp.get()).find("not a stream"), std::string::npos);
  const net::UniqueFd local(::socket(AF_UNIX, SOCK_STREAM, 0));
  EXPECT_NE(check_listening_tcp(local.get()).find("IPv4 or IPv6"), std::string::npos);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const net::UniqueFd r(p[0]), w(p[1]);
  EXPECT_NE(check_listening_tcp(r.get()).find("not a socket"), std::string::npos);
}

// A datagram socket the test owns, at a path or an abstract name.
struct Receiver {
  net::UniqueFd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  std::string dir;
  std::string address;  // As NOTIFY_SOCKET spells it.

  bool bind_path() {
    char tmpl[] = "/tmp/framed-notify-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return false;
    dir = tmpl;
    address = dir + "/notify";
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, address.c_str(), address.size() + 1);
    return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  bool bind_abstract() {
    const std::string name = "framed-notify-test-" + std::to_string(::getpid());
    address = "@" + name;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) == 0;
  }
  // One datagram, or "" after a second.
  std::string receive() const {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return {};
    char buf[512];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  ~Receiver() {
    if (!dir.empty()) {
      ::unlink(address.c_str());
      ::rmdir(dir.c_str());
    }
  }
};

TEST(Notifier, EmptyWithoutNotifySocket) {
  clear_environment();
  std::string error;
  const Notifier n = Notifier::from_environment(true, error);
  EXPECT_FALSE(n.enabled());
  EXPECT_EQ(error, "");
  EXPECT_TRUE(n.send("READY=1").ok()) << "sending to no manager is not an error";
}

TEST(Notifier, SendsToAPath) {
  Receiver r;
  ASSERT_TRUE(r.bind_path());
  ::setenv("NOTIFY_SOCKET", r.address.c_str(), 1);
  std::string error;
  const Notifier n = Notifier::from_environment(true, error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr) << "no child may speak for the service";
  ASSERT_TRUE(n.enabled());
  ASSERT_TRUE(n.send("READY=1\nSTATUS=listening").ok());
  EXPECT_EQ(r.receive(), "READY=1\nSTATUS=listening");
}

TEST(Notifier, SendsToAnAbstractName) {
  Receiver r;
  ASSERT_TRUE(r.bind_abstract());
  Notifier n;
  std::string error;
  ASSERT_TRUE(n.set_address(r.address, error)) << error;
  ASSERT_TRUE(n.send("STOPPING=1").ok());
  EXPECT_EQ(r.receive(), "STOPPING=1");
}

TEST(Notifier, RefusesWhatIsNotASocketAddress) {
  for (const std::string& bad :
       {std::string(), std::string("@"), std::string("relative/path"), std::string("vsock:2:1234"),
        "/" + std::string(sizeof(sockaddr_un::sun_path), 'x')}) {
    Notifier n;
    std::string error;
    EXPECT_FALSE(n.set_address(bad, error)) << bad;
    EXPECT_FALSE(n.enabled()) << bad;
    EXPECT_NE(error, "") << bad;
  }
}

TEST(Notifier, ASilentManagerIsAnErrorToLogNotToDieOf) {
  Notifier n;
  std::string error;
  ASSERT_TRUE(n.set_address("/nonexistent/framed/notify", error));
  const net::SysError e = n.send("READY=1");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.code, ENOENT);
}

}  // namespace
}  // namespace framed::server::systemd
