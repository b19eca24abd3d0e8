// framed::Client against a framed::Server in the same process and against
// raw peers that misbehave on purpose: every failure is a named Errc with
// a message, within the time given.
#include "framed/client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "framed/encoder.h"
#include "framed/server.h"
#include "net/socket.h"
#include "raw_peer.h"

namespace framed {
namespace {

using test::RawPeer;

using namespace std::chrono_literals;

std::vector<std::byte> bytes(std::string_view s) {
  const auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

struct Echo final : FrameHandler {
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(payload);
  }
};

// An echo server on an ephemeral port for the test's duration.
struct EchoServer {
  Server server{[] {
                  ServerOptions o;
                  o.port = 0;
                  o.log_level = LogLevel::warn;
                  return o;
                }(),
                [](Loop&) { return std::make_unique<Echo>(); }};
  EchoServer() { EXPECT_FALSE(server.start()); }
  ~EchoServer() {
    server.stop();
    (void)server.wait();
  }
};

TEST(Client, SendsAndReceivesFramesAndTimesOutWhenNoneComes) {
  EchoServer s;
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", s.server.port()));
  EXPECT_TRUE(c.connected());
  ASSERT_FALSE(c.send_frame(bytes("hello")));
  ASSERT_FALSE(c.send_frame({}));
  std::vector<std::byte> got;
  ASSERT_FALSE(c.receive_frame(got, 5s));
  EXPECT_EQ(got, bytes("hello"));
  ASSERT_FALSE(c.receive_frame(got, 5s));
  EXPECT_TRUE(got.empty()) << "an empty frame is a frame";
  const Error e = c.receive_frame(got, 50ms);
  EXPECT_EQ(e.code, Errc::timed_out) << e.message;
}

TEST(Client, ANameThatDoesNotResolveGivesTheResolversError) {
  Client c;
  const Error e = c.connect("no-such-host.invalid", 7777, 5s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code, Errc::resolve);
  EXPECT_NE(e.message.find("cannot resolve 'no-such-host.invalid'"), std::string::npos)
      << e.message;
  EXPECT_FALSE(c.connected());
}

TEST(Client, ARefusedConnectIsAConnectError) {
  std::uint16_t port = 0;
  { port = RawPeer().port; }  // Closed again: nothing listens there now.
  Client c;
  const Error e = c.connect("127.0.0.1", port, 5s);
  EXPECT_EQ(e.code, Errc::connect) << e.message;
  EXPECT_NE(e.message.find("refused"), std::string::npos) << e.message;
}

TEST(Client, AFrameAboveTheLimitIsAProtocolErrorAndClosesTheConnection) {
  RawPeer peer;
  Client c;
  c.set_max_frame(10);
  ASSERT_FALSE(c.connect("127.0.0.1", peer.port));
  auto server_side = peer.accept_one();
  ASSERT_TRUE(server_side.valid());
  const auto header = encode_header(11);
  ASSERT_EQ(::write(server_side.get(), header.data(), header.size()), 4);
  std::vector<std::byte> got;
  const Error e = c.receive_frame(got, 5s);
  EXPECT_EQ(e.code, Errc::protocol) << e.message;
  EXPECT_FALSE(c.connected());
}

TEST(Client, AServerThatClosesMidFrameIsReportedAsSuch) {
  RawPeer peer;
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", peer.port));
  {
    auto server_side = peer.accept_one();
    ASSERT_TRUE(server_side.valid());
    std::vector<std::byte> partial;
    (void)append_frame(partial, bytes("0123456789"));
    partial.resize(8);  // The header and 4 of 10 payload bytes.
    ASSERT_EQ(::write(server_side.get(), partial.data(), partial.size()), 8);
  }
  std::vector<std::byte> got;
  const Error e = c.receive_frame(got, 5s);
  EXPECT_EQ(e.code, Errc::closed) << e.message;
  EXPECT_NE(e.message.find("mid-frame (4 payload bytes of 10"), std::string::npos) << e.message;
}

TEST(Client, APipelineGetsEveryReplyInOrder) {
  EchoServer s;
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", s.server.port()));
  std::size_t next = 0;
  Client::PipelineOptions o;
  o.window = 8;
  o.split_seed = 42;  // And the server reassembles frames cut anywhere.
  const Error e = c.pipeline(
      1000,
      [](std::size_t i, std::vector<std::byte>& out) {
        out = bytes("request " + std::to_string(i));
      },
      [&](std::size_t i, std::span<const std::byte> reply) {
        EXPECT_EQ(i, next++);
        const auto want = bytes("request " + std::to_string(i));
        return std::equal(reply.begin(), reply.end(), want.begin(), want.end());
      },
      o);
  EXPECT_FALSE(e) << e.message;
  EXPECT_EQ(next, 1000U);
}

// A peer that accepts and never reads: the pipeline's writes stop, and the
// call ends at its timeout instead of blocking forever.
TEST(Client, APipelineToAPeerThatNeverReadsEndsAtItsTimeout) {
  RawPeer peer;
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", peer.port));
  auto server_side = peer.accept_one();
  ASSERT_TRUE(server_side.valid());
  Client::PipelineOptions o;
  o.window = 64;
  o.timeout = 200ms;
  const Error e = c.pipeline(
      64, [](std::size_t, std::vector<std::byte>& out) { out.assign(1U << 20U, std::byte{7}); },
      [](std::size_t, std::span<const std::byte>) { return true; }, o);
  EXPECT_EQ(e.code, Errc::timed_out) << e.message;
  EXPECT_NE(e.message.find("after 0 of 64 replies"), std::string::npos) << e.message;
}

TEST(Client, CallsWithoutAConnectionAreRefused) {
  Client c;
  std::vector<std::byte> got;
  EXPECT_EQ(c.send_frame(bytes("x")).code, Errc::invalid_argument);
  EXPECT_EQ(c.receive_frame(got, 10ms).code, Errc::invalid_argument);
  EXPECT_EQ(c.shutdown_write().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace framed
