// framed::Server with TLS in process, and framed::Client over TLS: the
// certificate reload (Server::reload_tls, SIGHUP in framed-server) swaps
// the certificate for new connections only, and a bad file changes nothing.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "framed/client.h"
#include "framed/server.h"

namespace framed {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kCerts = FRAMED_TLS_CERTS;

struct Echo final : FrameHandler {
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(payload);
  }
};

std::vector<std::byte> bytes(std::string_view s) {
  const auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

// A client trusting `ca` (in certs/), connected; empty Error on success.
Error connect(Client& c, std::uint16_t port, const std::string& ca) {
  ClientTlsOptions t;
  t.enabled = true;
  t.ca_file = kCerts + "/" + ca + ".pem";
  c.set_tls(t);
  return c.connect("127.0.0.1", port, 5s);
}

Error round_trip(Client& c, std::string_view text) {
  if (Error e = c.send_frame(bytes(text))) return e;
  std::vector<std::byte> got;
  if (Error e = c.receive_frame(got, 5s)) return e;
  if (got != bytes(text)) return {"wrong echo", Errc::other};
  return {};
}

class TlsReload : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("framed-tls-reload-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    use("server");
    ServerOptions o;
    o.port = 0;
    o.log_level = LogLevel::warn;
    o.tls.cert_file = (dir_ / "cert.pem").string();
    o.tls.key_file = (dir_ / "key.pem").string();
    server_ = std::make_unique<Server>(o, [](Loop&) { return std::make_unique<Echo>(); });
    ASSERT_FALSE(server_->start());
  }
  void TearDown() override {
    server_->stop();
    (void)server_->wait();
    fs::remove_all(dir_);
  }
  // Puts certs/NAME.pem and .key where the server's options point.
  void use(const std::string& name) {
    fs::copy_file(kCerts + "/" + name + ".pem", dir_ / "cert.pem",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(kCerts + "/" + name + ".key", dir_ / "key.pem",
                  fs::copy_options::overwrite_existing);
  }
  fs::path dir_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsReload, NewConnectionsGetTheNewCertificateAndOpenOnesGoOn) {
  Client before;
  ASSERT_FALSE(connect(before, server_->port(), "ca"));
  ASSERT_FALSE(round_trip(before, "one"));

  use("server2");  // The same names, from the other CA.
  ASSERT_FALSE(server_->reload_tls());

  Client after;
  ASSERT_FALSE(connect(after, server_->port(), "other-ca")) << "the new certificate is served";
  ASSERT_FALSE(round_trip(after, "two"));
  Client stale;
  const Error e = connect(stale, server_->port(), "ca");
  EXPECT_EQ(e.code, Errc::tls) << e.message;
  EXPECT_NE(e.message.find("certificate verify failed"), std::string::npos) << e.message;
  EXPECT_FALSE(round_trip(before, "still open")) << "a connection open before the reload goes on";
}

TEST_F(TlsReload, ABadFileKeepsTheCertificateInUseAndSaysWhy) {
  { std::ofstream(dir_ / "cert.pem") << "not a certificate\n"; }
  const Error e = server_->reload_tls();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message.find("--tls-cert " + (dir_ / "cert.pem").string()), std::string::npos)
      << e.message;
  use("server2");
  fs::remove(dir_ / "key.pem");
  EXPECT_NE(server_->reload_tls().message.find("No such file"), std::string::npos);
  Client c;
  ASSERT_FALSE(connect(c, server_->port(), "ca")) << "the first certificate is still served";
  EXPECT_FALSE(round_trip(c, "unchanged"));
}

TEST(TlsServer, AReloadWithoutTlsIsRefused) {
  ServerOptions o;
  o.port = 0;
  o.log_level = LogLevel::warn;
  Server s(o, [](Loop&) { return std::make_unique<Echo>(); });
  EXPECT_EQ(s.reload_tls().code, Errc::invalid_argument) << "not started yet";
  ASSERT_FALSE(s.start());
  EXPECT_NE(s.reload_tls().message.find("TLS is off"), std::string::npos);
  s.stop();
  (void)s.wait();
}

TEST(TlsServer, StartRefusesBadTlsOptionsWithTheReason) {
  ServerOptions o;
  o.port = 0;
  o.log_level = LogLevel::off;
  o.tls.cert_file = kCerts + "/server.pem";
  Server no_key(o, [](Loop&) { return std::make_unique<Echo>(); });
  EXPECT_NE(no_key.start().message.find("needs --tls-key"), std::string::npos);
  o.tls.key_file = kCerts + "/server.key";
  o.tls.min_version = "1.0";
  Server old(o, [](Loop&) { return std::make_unique<Echo>(); });
  EXPECT_NE(old.start().message.find("must be 1.2 or 1.3"), std::string::npos);
}

}  // namespace
}  // namespace framed

namespace framed {
namespace {

// A client that sends a burst of large frames, ends its input at once
// (close_notify, then a FIN) and only then reads: every echo arrives, then
// the server's close. (framed-conform --tls found echoes cut short here.)
TEST(TlsServer, EveryEchoOfABurstArrivesWhenTheClientEndsItsInputFirst) {
  ServerOptions o;
  o.port = 0;
  o.log_level = LogLevel::warn;
  o.tls.cert_file = kCerts + "/server.pem";
  o.tls.key_file = kCerts + "/server.key";
  Server s(o, [](Loop&) { return std::make_unique<Echo>(); });
  ASSERT_FALSE(s.start());
  for (int trial = 0; trial < 5; ++trial) {
    Client c;
    ASSERT_FALSE(connect(c, s.port(), "ca"));
    std::vector<std::vector<std::byte>> sent;
    for (const std::size_t n : {std::size_t{1} << 20U, (std::size_t{1} << 20U) + 1, std::size_t{7},
                                std::size_t{3} * (1U << 20U) + 5}) {
      std::vector<std::byte> p(n);
      for (std::size_t k = 0; k < n; ++k) p[k] = static_cast<std::byte>((k * 131 + n) & 0xFF);
      sent.push_back(std::move(p));
    }
    // Pipelined: replies are read as they come so that neither side stalls.
    std::size_t got = 0;
    const Error e = c.pipeline(
        sent.size(), [&](std::size_t i, std::vector<std::byte>& out) { out = sent[i]; },
        [&](std::size_t i, std::span<const std::byte> reply) {
          ++got;
          return std::equal(reply.begin(), reply.end(), sent[i].begin(), sent[i].end());
        });
    ASSERT_FALSE(e) << e.message;
    ASSERT_EQ(got, sent.size());
    ASSERT_FALSE(c.shutdown_write());
    std::vector<std::byte> more;
    const Error end = c.receive_frame(more, 5s);
    EXPECT_EQ(end.code, Errc::closed) << end.message;
  }
  s.stop();
  (void)s.wait();
}

}  // namespace
}  // namespace framed

namespace framed {
namespace {

// The handshake, the tickets and close_notify are the TLS layer's own
// records: on every backend they are not counted as bytes sent, and their
// acknowledgement is not the peer's activity. (io_uring reported them
// through its send completions, so an idle TLS connection was closed at
// twice its idle timeout: framed-conform --tls --strict found it.)
class TlsBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(TlsBackends, TheLayersOwnRecordsAreNotCountedAsSent) {
  ServerOptions o;
  o.port = 0;
  o.log_level = LogLevel::warn;
  o.backend = GetParam();
  o.tls.cert_file = kCerts + "/server.pem";
  o.tls.key_file = kCerts + "/server.key";
  Server s(o, [](Loop&) { return std::make_unique<Echo>(); });
  if (Error e = s.start()) {
    if (GetParam() == Backend::io_uring) GTEST_SKIP() << e.message;
    FAIL() << e.message;
  }
  Client c;
  ASSERT_FALSE(connect(c, s.port(), "ca"));
  ASSERT_FALSE(round_trip(c, "x"));  // Handshake done, tickets sent and taken.
  // The counters are bumped once the write returns, which may be just
  // after the client has the echo.
  std::uint64_t one_echo = 0;
  for (int i = 0; i < 200 && one_echo == 0; ++i) {
    one_echo = s.counters().bytes_sent;
    if (one_echo == 0) std::this_thread::sleep_for(10ms);
  }
  // One record of 27 B (5 B header, the 5 B frame, 1 B type, 16 B tag), or
  // two when the payload was queued behind a send in flight (io_uring):
  // never the handshake's and the tickets' 1.3 KiB or so.
  EXPECT_TRUE(one_echo == 27U || one_echo == 49U) << one_echo;
  s.stop();
  (void)s.wait();
}

// A peer that stops in the middle of a record leaves OpenSSL holding part
// of it: the server waits for the socket, idle (found by review: the layer
// took that for input to deliver and spun a core until the timeout).
TEST_P(TlsBackends, APartialRecordLeavesTheServerIdle) {
  ServerOptions o;
  o.port = 0;
  o.log_level = LogLevel::warn;
  o.backend = GetParam();
  o.tls.cert_file = kCerts + "/server.pem";
  o.tls.key_file = kCerts + "/server.key";
  Server s(o, [](Loop&) { return std::make_unique<Echo>(); });
  if (Error e = s.start()) {
    if (GetParam() == Backend::io_uring) GTEST_SKIP() << e.message;
    FAIL() << e.message;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(s.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  // The first bytes of a ClientHello record: its header says more follows.
  const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
  ASSERT_EQ(::send(fd, partial, sizeof partial, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof partial));
  std::this_thread::sleep_for(200ms);  // Read and parked by now.
  rusage before{};
  rusage after{};
  ::getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(1s);
  ::getrusage(RUSAGE_SELF, &after);
  const auto used = [](const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  EXPECT_LT(used(after) - used(before), 0.3) << "the process was busy while nothing happened";
  ::close(fd);
  s.stop();
  (void)s.wait();
}

INSTANTIATE_TEST_SUITE_P(Each, TlsBackends,
                         ::testing::Values(Backend::poll, Backend::epoll, Backend::io_uring),
                         [](const auto& param_info) {
                           switch (param_info.param) {
                             case Backend::poll: return std::string("poll");
                             case Backend::epoll: return std::string("epoll");
                             default: return std::string("io_uring");
                           }
                         });

}  // namespace
}  // namespace framed
