// The drain of a proxy, over real sockets: the accepted connections are
// drained first, and the outbound ones (Loop::connect) only once every
// accepted connection of their loop has closed, so that a frame a client
// sent just before the stop is still answered by the backend. And a
// service's own metrics (ServerOptions::metrics_extra) follow the server's.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "framed/client.h"
#include "framed/server.h"

namespace framed {
namespace {

using namespace std::chrono_literals;

ServerOptions options() {
  ServerOptions o;
  o.port = 0;
  o.log_level = LogLevel::warn;
  return o;
}

// The backend: answers each frame 200 ms later, held meanwhile.
struct SlowEcho final : FrameHandler {
  std::vector<Timer> timers;
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.hold();
    std::vector<std::byte> p(payload.begin(), payload.end());
    Loop& loop = c.loop();
    const std::uint64_t id = c.id();
    timers.push_back(loop.after(200ms, [&loop, id, p] {
      if (Connection* conn = loop.find(id)) {
        conn->send_frame(p);
        conn->release();
      }
    }));
  }
};

struct Forwarded {
  std::promise<void> sent;
};

// The proxy's side toward the backend: sends the client's frame once open,
// and brings the answer back to the client.
struct Relay final : FrameHandler {
  Relay(std::uint64_t client, std::vector<std::byte> frame, std::shared_ptr<Forwarded> f)
      : client_(client), frame_(std::move(frame)), forwarded_(std::move(f)) {}
  void on_open(Connection& c) override {
    c.send_frame(frame_);
    forwarded_->sent.set_value();
  }
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    if (Connection* client = c.loop().find(client_)) {
      client->send_frame(payload);
      client->release();
    }
  }

 private:
  std::uint64_t client_;
  std::vector<std::byte> frame_;
  std::shared_ptr<Forwarded> forwarded_;
};

// The proxy: each frame goes to the backend over a connection of its own.
struct Proxy final : FrameHandler {
  std::uint16_t backend = 0;
  std::shared_ptr<Forwarded> forwarded;
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.hold();
    (void)c.loop().connect(
        "127.0.0.1", backend,
        std::make_unique<Relay>(c.id(), std::vector<std::byte>(payload.begin(), payload.end()),
                                forwarded));
  }
};

TEST(DrainOrder, ABackendStillAnswersTheFrameAClientSentBeforeTheStop) {
  Server far(options(), [](Loop&) { return std::make_unique<SlowEcho>(); });
  ASSERT_FALSE(far.start());
  auto forwarded = std::make_shared<Forwarded>();
  auto sent = forwarded->sent.get_future();
  Server proxy(options(), [&](Loop&) {
    auto p = std::make_unique<Proxy>();
    p->backend = far.port();
    p->forwarded = forwarded;
    return p;
  });
  ASSERT_FALSE(proxy.start());
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", proxy.port()));
  const std::string ping = "ping";
  ASSERT_FALSE(c.send_frame(std::as_bytes(std::span(ping.data(), ping.size()))));
  ASSERT_EQ(sent.wait_for(5s), std::future_status::ready);
  proxy.stop(3s);  // The backend has the frame, and answers 200 ms later.
  std::vector<std::byte> reply;
  const Error e = c.receive_frame(reply, 5s);
  ASSERT_FALSE(e) << e.message;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(reply.data()), reply.size()), ping);
  const Error end = c.receive_frame(reply, 5s);
  EXPECT_EQ(end.code, Errc::closed) << end.message;
  const StopReport report = proxy.wait();
  EXPECT_TRUE(report.drained) << "nothing cut: the outbound connection was drained last";
  EXPECT_EQ(report.cut, 0U);
  far.stop(0ms);
  (void)far.wait();
}

TEST(MetricsExtra, AServicesOwnFamiliesFollowTheServers) {
  auto o = options();
  o.metrics_extra = [] { return std::string("# TYPE svc_things_total counter\nsvc_things_total 7\n"); };
  Server s(o, [](Loop&) { return std::make_unique<SlowEcho>(); });
  ASSERT_FALSE(s.start());
  const std::string text = s.metrics();
  EXPECT_NE(text.find("framed_connections_open"), std::string::npos);
  EXPECT_TRUE(text.ends_with("svc_things_total 7\n")) << text.substr(text.size() - 200);
  s.stop(0ms);
  (void)s.wait();
}

TEST(MetricsExtra, OneThatThrowsIsLoggedAndTheRestServed) {
  auto o = options();
  o.log_level = LogLevel::off;
  o.metrics_extra = []() -> std::string { throw std::runtime_error("no figures"); };
  Server s(o, [](Loop&) { return std::make_unique<SlowEcho>(); });
  ASSERT_FALSE(s.start());
  const std::string text = s.metrics();
  EXPECT_NE(text.find("framed_connections_open"), std::string::npos);
  EXPECT_EQ(text.find("svc_"), std::string::npos);
  s.stop(0ms);
  (void)s.wait();
}

}  // namespace
}  // namespace framed
