// Loop::connect, against a framed::Server and against raw peers: a
// connection of the server's own, with the same framing, backpressure and
// flow control as an accepted one; every failure reaches on_connect_error.
// And a proxy built from connect, writable()/on_drain and
// pause_reading()/resume_reading() holds bounded memory when its far side
// stops reading.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "framed/client.h"
#include "framed/encoder.h"
#include "framed/server.h"
#include "raw_peer.h"

namespace framed {
namespace {

using namespace std::chrono_literals;
using test::RawPeer;

std::vector<std::byte> bytes(std::string_view s) {
  const auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

struct Echo final : FrameHandler {
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(payload);
  }
};

ServerOptions options(Backend backend = Backend::epoll) {
  ServerOptions o;
  o.port = 0;
  o.log_level = LogLevel::warn;
  o.backend = backend;
  return o;
}

// A server whose workers do nothing by themselves: the test makes them
// connect (through for_each_loop).
struct Host {
  Server server;
  Error started;
  explicit Host(Backend backend = Backend::epoll) : Host(options(backend)) {}
  explicit Host(const ServerOptions& o)
      : server(o, [](Loop&) { return std::make_unique<Echo>(); }), started(server.start()) {}
  ~Host() {
    server.stop(0ms);
    (void)server.wait();
  }
  // Runs `connect` on the (only) loop.
  void on_loop(std::function<void(Loop&)> f) { server.for_each_loop(f); }
};

// Reports how an outbound connection went.
struct Outcome {
  std::promise<std::string> result;
};

struct Pinger final : FrameHandler {
  explicit Pinger(std::shared_ptr<Outcome> o) : outcome(std::move(o)) {}
  std::shared_ptr<Outcome> outcome;
  bool done = false;
  void on_open(Connection& c) override { c.send_frame(bytes("ping")); }
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    if (!done) {
      done = true;
      outcome->result.set_value(
          "reply: " + std::string(reinterpret_cast<const char*>(payload.data()), payload.size()));
    }
    c.close("done");
  }
  void on_connect_error(ConnectionHandle, const Error& e) override {
    outcome->result.set_value("error " + std::to_string(static_cast<int>(e.code)) + ": " +
                              e.message);
  }
};

std::string run(Host& host, const std::string& to, std::uint16_t port,
                std::chrono::milliseconds timeout = 5s) {
  auto outcome = std::make_shared<Outcome>();
  auto f = outcome->result.get_future();
  host.on_loop(
      [=](Loop& l) { (void)l.connect(to, port, std::make_unique<Pinger>(outcome), timeout); });
  if (f.wait_for(10s) != std::future_status::ready) return "no outcome within 10 s";
  return f.get();
}

TEST(Outbound, ConnectsToAFramedServerAndSpeaksFrames) {
  Host host;
  Server far(options(), [](Loop&) { return std::make_unique<Echo>(); });
  ASSERT_FALSE(far.start());
  EXPECT_EQ(run(host, "127.0.0.1", far.port()), "reply: ping");
  far.stop();
  (void)far.wait();
}

// The same on every backend: readiness (poll, epoll) waits for the socket
// to be writable, io_uring for a poll request's completion.
TEST(Outbound, EveryBackendConnectsAndReportsARefusal) {
  Server far(options(), [](Loop&) { return std::make_unique<Echo>(); });
  ASSERT_FALSE(far.start());
  std::uint16_t closed_port = 0;
  { closed_port = RawPeer().port; }
  for (Backend b : {Backend::poll, Backend::epoll, Backend::io_uring}) {
    Host host(b);
    if (host.started) {
      EXPECT_EQ(b, Backend::io_uring) << host.started.message;
      continue;  // io_uring refused here (its tests say why).
    }
    EXPECT_EQ(run(host, "127.0.0.1", far.port()), "reply: ping");
    const std::string r = run(host, "127.0.0.1", closed_port);
    EXPECT_NE(r.find("refused"), std::string::npos) << r;
  }
  far.stop();
  (void)far.wait();
}

// Clients that hold every slot of max_conns leave none for an outbound
// connection: the failure a proxy's backend link meets under a flood of
// clients, unless the slots are kept back (outbound_reserve).
std::string echoed(Client& c) {
  if (const Error e = c.send_frame(bytes("hi")); e) return "send: " + e.message;
  std::vector<std::byte> reply;
  if (const Error e = c.receive_frame(reply, 2s); e) return "receive: " + e.message;
  return std::string(reinterpret_cast<const char*>(reply.data()), reply.size());
}

TEST(Outbound, ClientsAtMaxConnsLeaveNoSlotForAnOutboundConnection) {
  ServerOptions o = options();
  o.max_conns = 2;
  Host host(o);
  ASSERT_FALSE(host.started) << host.started.message;
  Server far(options(), [](Loop&) { return std::make_unique<Echo>(); });
  ASSERT_FALSE(far.start());
  Client a;
  Client b;
  ASSERT_FALSE(a.connect("127.0.0.1", host.server.port()));
  ASSERT_FALSE(b.connect("127.0.0.1", host.server.port()));
  ASSERT_EQ(echoed(a), "hi");
  ASSERT_EQ(echoed(b), "hi");
  const std::string r = run(host, "127.0.0.1", far.port());
  EXPECT_NE(r.find("max_conns (2) connections are open"), std::string::npos) << r;
  far.stop();
  (void)far.wait();
}

TEST(Outbound, TheOutboundReserveIsKeptFromClients) {
  ServerOptions o = options();
  o.max_conns = 3;
  o.outbound_reserve = 1;
  Host host(o);
  ASSERT_FALSE(host.started) << host.started.message;
  Server far(options(), [](Loop&) { return std::make_unique<Echo>(); });
  ASSERT_FALSE(far.start());
  Client a;
  Client b;
  Client refused;
  ASSERT_FALSE(a.connect("127.0.0.1", host.server.port()));
  ASSERT_FALSE(b.connect("127.0.0.1", host.server.port()));
  ASSERT_EQ(echoed(a), "hi");
  ASSERT_EQ(echoed(b), "hi");
  // The third client would take the reserved slot: accepted and closed.
  ASSERT_FALSE(refused.connect("127.0.0.1", host.server.port()));
  EXPECT_NE(echoed(refused), "hi");
  EXPECT_EQ(host.server.counters().refused, 1U);
  // The reserve is the outbound connection's.
  EXPECT_EQ(run(host, "127.0.0.1", far.port()), "reply: ping");
  // A client's slot, once given back, is a client's again; the reserve is
  // still there for the next outbound connection.
  a.close();
  for (int i = 0; i < 1000 && host.server.counters().open != 1; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(host.server.counters().open, 1U);
  Client c;
  ASSERT_FALSE(c.connect("127.0.0.1", host.server.port()));
  EXPECT_EQ(echoed(c), "hi");
  EXPECT_EQ(run(host, "127.0.0.1", far.port()), "reply: ping");
  far.stop();
  (void)far.wait();
}

// A frame echoed over a connection made from `source` (another loopback
// address than 127.0.0.1: another client for max_conns_per_ip). Returns
// the echo, or what failed.
std::string echoed_from(const char* source, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  const timeval two_seconds{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
  std::string result = "connect failed";
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) == 0 &&
      ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0) {
    const char frame[] = {0, 0, 0, 2, 'h', 'i'};
    char reply[6] = {};
    std::size_t got = 0;
    if (::send(fd, frame, sizeof frame, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof frame)) {
      result = "send failed";
    } else {
      while (got < sizeof reply) {
        const ssize_t n = ::recv(fd, reply + got, sizeof reply - got, 0);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      result = got == sizeof reply ? std::string(reply + 4, 2)
                                   : "closed after " + std::to_string(got) + " bytes";
    }
  }
  ::close(fd);
  return result;
}

// A client refused for max_conns_per_ip gives back the slot of max_conns
// it was accepted on: refusals never add up to a full server.
TEST(Outbound, PerIpRefusalsGiveTheirSlotsBack) {
  ServerOptions o = options();
  o.max_conns = 2;
  o.max_conns_per_ip = 1;
  Host host(o);
  ASSERT_FALSE(host.started) << host.started.message;
  Client a;
  ASSERT_FALSE(a.connect("127.0.0.1", host.server.port()));
  ASSERT_EQ(echoed(a), "hi");
  for (int i = 0; i < 3; ++i) {
    Client again;
    ASSERT_FALSE(again.connect("127.0.0.1", host.server.port()));
    EXPECT_NE(echoed(again), "hi");
  }
  EXPECT_EQ(host.server.counters().refused_per_ip, 3U);
  EXPECT_EQ(echoed_from("127.0.0.2", host.server.port()), "hi");
}

TEST(Outbound, AReserveNotBelowMaxConnsIsRefusedAtStart) {
  ServerOptions o = options();
  o.max_conns = 2;
  o.outbound_reserve = 2;
  Server s(o, [](Loop&) { return std::make_unique<Echo>(); });
  const Error e = s.start();
  ASSERT_TRUE(e);
  EXPECT_EQ(e.message, "outbound_reserve (2) must be below max_conns (2)");
}

TEST(Outbound, ARefusedConnectReachesOnConnectError) {
  Host host;
  std::uint16_t port = 0;
  { port = RawPeer().port; }
  const std::string r = run(host, "127.0.0.1", port);
  EXPECT_EQ(r.rfind("error " + std::to_string(static_cast<int>(Errc::connect)), 0), 0U) << r;
  EXPECT_NE(r.find("refused"), std::string::npos) << r;
}

TEST(Outbound, ANameThatDoesNotResolveReportsTheResolversError) {
  Host host;
  const std::string r = run(host, "no-such-host.invalid", 7);
  EXPECT_EQ(r.rfind("error " + std::to_string(static_cast<int>(Errc::resolve)), 0), 0U) << r;
  EXPECT_NE(r.find("cannot resolve 'no-such-host.invalid'"), std::string::npos) << r;
}

// A listener whose queue is full drops the handshake: the connect hangs
// until its timeout.
TEST(Outbound, AConnectThatHangsEndsAtItsTimeout) {
  Host host;
  RawPeer full(0);
  std::vector<Client> fillers(3);
  for (auto& c : fillers) (void)c.connect("127.0.0.1", full.port, 200ms);
  const std::string r = run(host, "127.0.0.1", full.port, 300ms);
  EXPECT_EQ(r.rfind("error " + std::to_string(static_cast<int>(Errc::timed_out)), 0), 0U) << r;
}

// A connect still in progress when the server stops is told so (its
// on_connect_error was posted to a loop that had already ended, and the
// handler was destroyed without a word).
TEST(Outbound, AConnectInProgressAtTheStopReachesOnConnectError) {
  RawPeer full(0);
  std::vector<Client> fillers(3);
  for (auto& c : fillers) (void)c.connect("127.0.0.1", full.port, 200ms);
  auto outcome = std::make_shared<Outcome>();
  auto f = outcome->result.get_future();
  {
    Host host;
    const std::uint16_t port = full.port;
    host.on_loop([outcome, port](Loop& l) {
      (void)l.connect("127.0.0.1", port, std::make_unique<Pinger>(outcome), 30s);
    });
    std::this_thread::sleep_for(50ms);  // The connect is under way (hanging).
  }                                     // Stopped and destroyed.
  ASSERT_EQ(f.wait_for(0s), std::future_status::ready) << "on_connect_error was never called";
  const std::string r = f.get();
  EXPECT_NE(r.find("stop"), std::string::npos) << r;
}

// The far side accepts and never reads: the outbound connection's output
// stops at the cap of what is owed, the handler hears writable() turn
// false and never on_drain, and the server stays bounded and stoppable.
TEST(Outbound, APeerThatNeverReadsMakesTheConnectionUnwritableNotUnbounded) {
  Host host;
  RawPeer sink;
  struct Flood final : FrameHandler {
    std::shared_ptr<std::atomic<std::size_t>> max_pending;
    std::shared_ptr<std::promise<void>> stalled;
    Timer timer;
    void on_open(Connection& c) override {
      Connection* conn = &c;
      timer = c.loop().every(1ms, [this, conn] {
        const std::vector<std::byte> payload(64U << 10U, std::byte{3});
        while (conn->writable()) conn->send_frame(payload);
        *max_pending = std::max(max_pending->load(), conn->pending_bytes());
        if (stalled) {
          stalled->set_value();
          stalled.reset();
        }
      });
    }
    void on_frame(Connection&, std::span<const std::byte>) override {}
  };
  auto max_pending = std::make_shared<std::atomic<std::size_t>>(0);
  auto stalled = std::make_shared<std::promise<void>>();
  auto f = stalled->get_future();
  host.on_loop([&, max_pending, stalled](Loop& l) {
    auto h = std::make_unique<Flood>();
    h->max_pending = max_pending;
    h->stalled = stalled;
    (void)l.connect("127.0.0.1", sink.port, std::move(h));
  });
  auto accepted = sink.accept_one();
  ASSERT_TRUE(accepted.valid());
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  std::this_thread::sleep_for(200ms);  // Many more ticks: still bounded.
  const ServerOptions o = options();
  EXPECT_GE(max_pending->load(), o.high_water);
  EXPECT_LT(max_pending->load(), o.high_water + (64U << 10U) + 4) << "stopped at the mark";
}

// A proxy: each client connection gets an upstream connection of its
// own; frames go through both ways. The upstream never reads: the proxy
// pauses the client when the upstream is unwritable, so what it holds
// stays bounded however much the client sends.
TEST(Outbound, AProxyHoldsBoundedMemoryWhenItsFarSideStopsReading) {
  RawPeer backend;
  auto max_pending = std::make_shared<std::atomic<std::size_t>>(0);
  struct Upstream final : FrameHandler {
    ConnectionHandle client;
    void on_open(Connection& c) override {
      if (Connection* front = c.loop().find(client.id)) {
        front->emplace_context<ConnectionHandle>(c.handle());
        front->resume_reading();
      }
    }
    void on_frame(Connection& c, std::span<const std::byte> payload) override {
      if (Connection* front = c.loop().find(client.id)) front->send_frame(payload);
    }
    void on_drain(Connection& c) override {
      if (Connection* front = c.loop().find(client.id)) front->resume_reading();
    }
    void on_close(Connection& c) override {
      if (Connection* front = c.loop().find(client.id)) front->close("upstream closed");
    }
  };
  struct Front final : FrameHandler {
    std::uint16_t port;
    std::shared_ptr<std::atomic<std::size_t>> max_pending;
    void on_open(Connection& c) override {
      c.pause_reading();  // Until the upstream is there.
      auto up = std::make_unique<Upstream>();
      up->client = c.handle();
      (void)c.loop().connect("127.0.0.1", port, std::move(up));
    }
    void on_frame(Connection& c, std::span<const std::byte> payload) override {
      const ConnectionHandle* h = c.context<ConnectionHandle>();
      Connection* up = h != nullptr ? c.loop().find(h->id) : nullptr;
      if (up == nullptr) {
        c.close("no upstream");
        return;
      }
      up->send_frame(payload);
      *max_pending = std::max(max_pending->load(), up->pending_bytes());
      if (!up->writable()) c.pause_reading();
    }
  };
  const std::uint16_t backend_port = backend.port;
  Server proxy(options(), [&](Loop&) {
    auto f = std::make_unique<Front>();
    f->port = backend_port;
    f->max_pending = max_pending;
    return f;
  });
  ASSERT_FALSE(proxy.start());
  Client client;
  ASSERT_FALSE(client.connect("127.0.0.1", proxy.port()));
  auto upstream = backend.accept_one();
  ASSERT_TRUE(upstream.valid());
  // 64 MiB in 32 KiB frames, sent until the proxy stops taking them.
  const std::vector<std::byte> payload(32U << 10U, std::byte{9});
  std::size_t sent = 0;
  for (; sent < 2048; ++sent) {
    if (client.send_frame(payload, 500ms)) break;
  }
  EXPECT_LT(sent, 2048U) << "the client was held back";
  const ServerOptions o = options();
  EXPECT_LE(max_pending->load(), o.high_water + payload.size() + 4)
      << "the proxy held at most the high-water mark and one frame for the upstream";
  proxy.stop(0ms);
  (void)proxy.wait();
}

}  // namespace
}  // namespace framed
