// framed-server --proxy-protocol (spec/PROXY.md) against the real binary on
// an ephemeral loopback port, for every backend: the header is accepted in
// any split, the bytes after it are frames, the client it names is the one
// logged, and anything else closes the connection with a line saying why.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <thread>

#include "backends.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::byte> raw(std::string_view s) {
  std::vector<std::byte> out;
  for (const char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

// A v2 PROXY header for TCP over IPv6: [2001:db8::7]:40001 -> [::1]:7777.
std::vector<std::byte> v2_tcp6() {
  std::string h("\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24", 16);
  std::string src(16, '\0');
  src[0] = '\x20';
  src[1] = '\x01';
  src[2] = '\x0d';
  src[3] = '\xb8';
  src[15] = '\x07';
  std::string dst(16, '\0');
  dst[15] = '\x01';
  h += src + dst + std::string("\x9c\x41\x1e\x61", 4);
  return raw(h);
}

std::vector<std::byte> v2_local() {
  return raw(std::string_view("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16));
}

class Proxy : public BackendTest {
 protected:
  ServerProcess server;

  void start(std::vector<std::string> args = {}) {
    SpawnOptions options;
    options.args = {"--port", "0", "--proxy-protocol", "--log-level", "debug"};
    options.args.insert(options.args.end(), GetParam().args.begin(), GetParam().args.end());
    options.args.insert(options.args.end(), args.begin(), args.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  }

  std::string counters() { return server.counters_line(); }
};

TEST_P(Proxy, V1HeaderThenFramesInTheSameWriteAreEchoedAndTheClientIsLogged) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto frames = concat(frame_of("one"), frame_of("two"));
  const auto r =
      exchange(fd.get(), concat(raw("PROXY TCP4 203.0.113.7 127.0.0.1 40000 7777\r\n"), frames),
               frames.size(), true);
  EXPECT_EQ(r.received, frames) << server.stderr_text();
  EXPECT_TRUE(server.wait_for_log("conn 203.0.113.7:40000 via proxy 127.0.0.1:", 5s))
      << server.stderr_text();
  // Every later line about the connection names the client, not the proxy.
  EXPECT_TRUE(server.wait_for_log("conn 203.0.113.7:40000 closing: peer closed", 5s))
      << server.stderr_text();
}

TEST_P(Proxy, V2HeaderThenFramesAreEchoedAndTheClientIsLogged) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(write_all(fd.get(), v2_tcp6()));
  const auto frame = frame_of("after v2");
  EXPECT_EQ(exchange(fd.get(), frame, frame.size(), false).received, frame) << server.stderr_text();
  EXPECT_TRUE(server.wait_for_log("conn [2001:db8::7]:40001 via proxy", 5s))
      << server.stderr_text();
}

TEST_P(Proxy, HeaderSplitByteByByteThenFrames) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  // TCP_NODELAY is set on the server's side only, so pauses between the
  // bytes are what makes each arrive in a read of its own.
  for (const std::byte b : v2_tcp6()) {
    ASSERT_TRUE(write_all(fd.get(), std::span<const std::byte>(&b, 1)));
    std::this_thread::sleep_for(2ms);
  }
  const auto frame = frame_of("split");
  EXPECT_EQ(exchange(fd.get(), frame, frame.size(), false).received, frame) << server.stderr_text();
  EXPECT_TRUE(server.wait_for_log("conn [2001:db8::7]:40001 via proxy", 5s));
}

TEST_P(Proxy, PayloadAfterTheHeaderInTheSameWriteIsNotLost) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> frames;
  for (int i = 0; i < 50; ++i) frames = concat(frames, frame_of("frame " + std::to_string(i)));
  const auto r = exchange(fd.get(), concat(v2_tcp6(), frames), frames.size(), false);
  EXPECT_EQ(r.received, frames) << server.stderr_text();
}

TEST_P(Proxy, BadHeaderClosesWithALogLineNamingPeerAndError) {
  start();
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  // TCP4 with IPv6 addresses, then a frame that must never be echoed.
  ASSERT_TRUE(write_all(fd.get(), concat(raw("PROXY TCP4 ::1 ::1 1 2\r\n"), frame_of("x"))));
  const auto r = read_until_close(fd.get());
  EXPECT_TRUE(r.received.empty());
  EXPECT_TRUE(r.eof || r.reset);
  EXPECT_TRUE(server.wait_for_log("bad PROXY header: v1_bad_address at offset 24", 5s))
      << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("conn 127.0.0.1:"), std::string::npos);
  EXPECT_NE(counters().find("protocol errors 1,"), std::string::npos);
}

TEST_P(Proxy, PeerOutsideProxyFromIsRefused) {
  start({"--proxy-from", "10.0.0.0/8,2001:db8::/32"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto frame = frame_of("x");
  (void)write_all(fd.get(), concat(raw("PROXY UNKNOWN\r\n"), frame));
  const auto r = read_until_close(fd.get());
  EXPECT_TRUE(r.received.empty());
  EXPECT_TRUE(r.eof || r.reset);
  EXPECT_TRUE(server.wait_for_log("refused: not in --proxy-from", 5s)) << server.stderr_text();
  EXPECT_NE(counters().find("refused 1,"), std::string::npos);
}

TEST_P(Proxy, IncompleteHeaderTimesOut) {
  start({"--proxy-timeout", "300ms"});
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(write_all(fd.get(), raw("PROXY TCP4 1.2")));
  const auto r = read_until_close(fd.get(), 10s);
  EXPECT_FALSE(r.timed_out) << "the server kept the connection open";
  EXPECT_TRUE(r.received.empty());
  EXPECT_TRUE(server.wait_for_log("PROXY header timeout", 5s)) << server.stderr_text();
  EXPECT_NE(counters().find("timed out 1,"), std::string::npos);
}

TEST_P(Proxy, LocalCommandKeepsTheRealAddressAndIsNoError) {
  start();
  // A health check: LOCAL, then close at once.
  {
    auto check = connect_local(server.port());
    ASSERT_TRUE(check.valid());
    ASSERT_TRUE(write_all(check.get(), v2_local()));
  }
  // A LOCAL connection may still carry frames.
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  const auto frame = frame_of("local");
  EXPECT_EQ(exchange(fd.get(), concat(v2_local(), frame), frame.size(), true).received, frame);
  EXPECT_TRUE(server.wait_for_log("v2 LOCAL: real address kept", 5s)) << server.stderr_text();
  const std::string line = counters();
  EXPECT_NE(line.find("protocol errors 0,"), std::string::npos) << line;
  const std::string log = server.stderr_text();
  EXPECT_EQ(log.find(" warn "), std::string::npos) << log;
  EXPECT_EQ(log.find(" error "), std::string::npos) << log;
}

TEST_P(Proxy, WithoutTheFlagAHeaderIsJustBytes) {
  SpawnOptions options;
  options.args = {"--port", "0"};
  options.args.insert(options.args.end(), GetParam().args.begin(), GetParam().args.end());
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  // "PROX" read as a length is 0x50524f58, above 16 MiB: an oversize frame.
  (void)write_all(fd.get(), raw("PROXY UNKNOWN\r\n"));
  const auto r = read_until_close(fd.get());
  EXPECT_TRUE(r.received.empty());
  EXPECT_TRUE(server.wait_for_log("frame_too_large", 5s)) << server.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Backends, Proxy, ::testing::ValuesIn(backend_cases()), backend_case_name);

}  // namespace
}  // namespace framed::test
