// framed-kv and framed-kv-cli (examples/kv), the guide's example, against
// the real binaries with four workers: set, get and del; keys that expire;
// a wait answered by a set from another connection (on whichever worker),
// or by its timeout; replies in request order behind a wait.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>
#include <thread>
#include <vector>

#include "framed/client.h"
#include "framed/encoder.h"
#include "server_process.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

class Kv : public ::testing::Test {
 protected:
  ServerProcess server;
  void SetUp() override {
    SpawnOptions options;
    options.args = {"--port", "0", "--workers", "4"};
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_KV_PATH, options, error)) << error;
  }
  Client connect() {
    Client c;
    EXPECT_FALSE(c.connect("127.0.0.1", server.port()));
    return c;
  }
  static std::string ask(Client& c, std::string_view request) {
    if (Error e = c.send_frame(std::as_bytes(std::span(request.data(), request.size())))) {
      return "send: " + e.message;
    }
    return answer(c);
  }
  static std::string answer(Client& c, std::chrono::milliseconds timeout = 10s) {
    std::vector<std::byte> reply;
    if (Error e = c.receive_frame(reply, timeout)) return "receive: " + e.message;
    return {reinterpret_cast<const char*>(reply.data()), reply.size()};
  }
};

TEST_F(Kv, SetGetAndDelete) {
  Client c = connect();
  EXPECT_EQ(ask(c, "get k"), "not found");
  EXPECT_EQ(ask(c, "set k v1"), "ok");
  Client other = connect();
  EXPECT_EQ(ask(other, "get k"), "value v1") << "one store for every worker";
  EXPECT_EQ(ask(c, "del k"), "ok");
  EXPECT_EQ(ask(c, "del k"), "not found");
  EXPECT_EQ(ask(c, "frobnicate"),
            "error: expected set KEY VALUE [TTL_MS], get KEY, del KEY or wait KEY TIMEOUT_MS");
}

TEST_F(Kv, AKeyWithATtlExpires) {
  Client c = connect();
  EXPECT_EQ(ask(c, "set short v 50"), "ok");
  EXPECT_EQ(ask(c, "set long v"), "ok");
  std::string got;
  for (int i = 0; i < 500 && got != "not found"; ++i) {
    got = ask(c, "get short");
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(got, "not found") << "expired within 5 s of a 50 ms TTL";
  EXPECT_EQ(ask(c, "get long"), "value v");
}

// The wait is answered by a set on another connection; with 8 setters
// spread over the workers, at least one setter is on another worker than
// the waiter, and each wait is answered whichever it is.
TEST_F(Kv, AWaitIsAnsweredByASetFromAnyConnection) {
  std::vector<Client> setters;
  for (int i = 0; i < 8; ++i) setters.push_back(connect());
  for (int i = 0; i < 8; ++i) {
    Client waiter = connect();
    const std::string key = "w" + std::to_string(i);
    const std::string wait = "wait " + key + " 10000";
    ASSERT_FALSE(waiter.send_frame(std::as_bytes(std::span(wait.data(), wait.size()))));
    std::vector<std::byte> early;
    EXPECT_EQ(waiter.receive_frame(early, 50ms).code, Errc::timed_out) << "no reply before a set";
    EXPECT_EQ(ask(setters[static_cast<std::size_t>(i)], "set " + key + " x" + std::to_string(i)),
              "ok");
    EXPECT_EQ(answer(waiter), "value x" + std::to_string(i));
  }
}

TEST_F(Kv, AWaitEndsAtItsTimeoutAndLaterRepliesKeepTheirOrder) {
  Client c = connect();
  // Both requests at once: the get's reply must come after the wait's.
  std::vector<std::byte> both;
  for (std::string_view r : {std::string_view("wait nothing 100"), std::string_view("get x")}) {
    const auto header = encode_header(static_cast<std::uint32_t>(r.size()));
    both.insert(both.end(), header.begin(), header.end());
    const auto b = std::as_bytes(std::span(r.data(), r.size()));
    both.insert(both.end(), b.begin(), b.end());
  }
  ASSERT_FALSE(c.send(both));
  EXPECT_EQ(answer(c), "timeout");
  EXPECT_EQ(answer(c), "not found");
}

// A client that resets while its wait holds its input paused: the reset
// is seen at once (the connection is neither read nor written, and the
// poller's error report spun the worker until the wait's timeout).
TEST_F(Kv, AClientThatResetsDuringAWaitIsClosedAtOnce) {
  Client c = connect();
  const std::string wait = "wait never 30000";
  ASSERT_FALSE(c.send_frame(std::as_bytes(std::span(wait.data(), wait.size()))));
  std::vector<std::byte> none;
  ASSERT_EQ(c.receive_frame(none, 100ms).code, Errc::timed_out);
  const linger hard{1, 0};
  ASSERT_EQ(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
  c.close();  // A reset.
  EXPECT_TRUE(server.wait_for_log("Connection reset by peer", 5s))
      << "closed within 5 s, not at the 30 s wait timeout:\n"
      << server.stderr_text();
  Client other = connect();
  EXPECT_EQ(ask(other, "get x"), "not found") << "and the worker serves the others";
}

TEST_F(Kv, TheCliSendsOneRequestAndPrintsTheReply) {
  const std::string port = std::to_string(server.port());
  std::string out;
  std::string err;
  auto status =
      run_to_exit(FRAMED_KV_CLI_PATH, {"--port", port, "set", "greeting", "hello"}, out, err);
  EXPECT_EQ(status.code, 0) << err;
  EXPECT_EQ(out, "ok\n");
  status = run_to_exit(FRAMED_KV_CLI_PATH, {"--port", port, "get", "greeting"}, out, err);
  EXPECT_EQ(status.code, 0) << err;
  EXPECT_EQ(out, "value hello\n");
  status = run_to_exit(FRAMED_KV_CLI_PATH, {"--port", "1", "get", "greeting"}, out, err);
  EXPECT_EQ(status.code, 1);
  EXPECT_NE(err.find("cannot connect to 127.0.0.1:1"), std::string::npos) << err;
}

}  // namespace
}  // namespace framed::test
