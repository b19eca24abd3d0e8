// framed::Server, the embeddable server: started, asked its port, stopped
// from any thread and waited for, in one process with others, touching
// nothing of the process. Real sockets on loopback, bounded waits.
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "framed/encoder.h"
#include "framed/server.h"
#include "net/socket.h"
#include "test_client.h"

namespace framed {
namespace {

using namespace std::chrono_literals;
using test::bytes_of;
using test::connect_local;
using test::frame_of;

// Echoes every frame; a frame "stop" stops the server from the handler.
class Echo final : public Handler {
 public:
  explicit Echo(Server** server = nullptr) : server_(server) {}
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    if (server_ != nullptr && payload.size() == 4 && std::memcmp(payload.data(), "stop", 4) == 0) {
      (*server_)->stop(5s);
    }
    c.send_frame(payload);
  }

 private:
  Server** server_;
};

ServerOptions quiet_options() {
  ServerOptions o;
  o.port = 0;
  o.backend = Backend::epoll;
  return o;
}

HandlerFactory echo() {
  return [](Loop&) { return std::make_unique<Echo>(); };
}

// Sends `text` as one frame and expects it back.
void expect_echo(std::uint16_t port, std::string_view text) {
  auto fd = connect_local(port);
  ASSERT_TRUE(fd.valid());
  const auto frame = frame_of(text);
  const auto ex = test::exchange(fd.get(), frame, frame.size(), false, 5000ms);
  EXPECT_EQ(ex.received, frame);
}

TEST(ServerApi, TwoServersOnPortZeroServeAndStopIndependently) {
  Server a(quiet_options(), echo());
  Server b(quiet_options(), echo());
  ASSERT_FALSE(a.start());
  ASSERT_FALSE(b.start());
  ASSERT_NE(a.port(), 0);
  ASSERT_NE(b.port(), 0);
  EXPECT_NE(a.port(), b.port());
  ASSERT_EQ(a.addresses().size(), 1U);
  EXPECT_EQ(a.addresses()[0], "127.0.0.1:" + std::to_string(a.port()));
  expect_echo(a.port(), "to a");
  expect_echo(b.port(), "to b");
  const ServerCounters counted = a.counters();
  EXPECT_EQ(counted.accepted, 1U);
  EXPECT_EQ(counted.frames_sent, 1U);
  EXPECT_EQ(counted.bytes_sent, 8U) << "one frame of 4 bytes";
  // b stops first; a goes on serving.
  b.stop();
  const StopReport rb = b.wait();
  EXPECT_TRUE(rb.drained);
  EXPECT_EQ(rb.cut, 0U);
  expect_echo(a.port(), "a still serves");
  a.stop();
  EXPECT_TRUE(a.wait().drained);
  EXPECT_TRUE(a.wait().drained) << "a second wait() returns the same report";
}

TEST(ServerApi, InvalidOptionsAreAnErrorNotADefault) {
  ServerOptions o = quiet_options();
  o.workers = 0;
  Server s(o, echo());
  const Error e = s.start();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message.find("workers"), std::string::npos) << e.message;
  EXPECT_EQ(s.port(), 0);
  EXPECT_TRUE(s.wait().error) << "a server that did not start has nothing to wait for";

  ServerOptions bad_proxy = quiet_options();
  bad_proxy.proxy_protocol = true;
  bad_proxy.proxy_from = {"10.0.0.0/33"};
  Server p(bad_proxy, echo());
  const Error pe = p.start();
  ASSERT_TRUE(pe);
  EXPECT_NE(pe.message.find("10.0.0.0/33"), std::string::npos) << pe.message;
}

TEST(ServerApi, APortInUseIsAnErrorAndTheFirstServerGoesOn) {
  Server a(quiet_options(), echo());
  ASSERT_FALSE(a.start());
  ServerOptions o = quiet_options();
  o.port = a.port();
  Server b(o, echo());
  const Error e = b.start();
  ASSERT_TRUE(e);
  EXPECT_NE(e.message.find("cannot listen"), std::string::npos) << e.message;
  expect_echo(a.port(), "still here");
}

// The library owns nothing of the process: no signal disposition, no
// signal mask of the caller, nothing on stdout.
TEST(ServerApi, TheServerLeavesTheProcessAlone) {
  sigset_t mask_before;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask_before);
  testing::internal::CaptureStdout();
  {
    Server s(quiet_options(), echo());
    ASSERT_FALSE(s.start());
    expect_echo(s.port(), "hello");
    s.stop();
    (void)s.wait();
  }
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  for (int signo : {SIGPIPE, SIGINT, SIGTERM, SIGUSR1}) {
    struct sigaction now {};
    sigaction(signo, nullptr, &now);
    EXPECT_EQ(now.sa_handler, SIG_DFL) << "signal " << signo;
  }
  sigset_t mask_after;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask_after);
  for (int signo : {SIGPIPE, SIGINT, SIGTERM, SIGUSR1}) {
    EXPECT_EQ(sigismember(&mask_before, signo), sigismember(&mask_after, signo)) << signo;
  }
}

// A drain that has to cut a connection says so: it did not complete.
TEST(ServerApi, ADrainThatCutsAConnectionReportsIt) {
  Server s(quiet_options(), echo());
  ASSERT_FALSE(s.start());
  auto fd = connect_local(s.port());
  ASSERT_TRUE(fd.valid());
  // A frame in progress: the drain waits for its end, which never comes.
  ASSERT_TRUE(test::write_all(fd.get(), encode_header(100)));
  for (int i = 0; i < 500 && s.open_connections() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(s.open_connections(), 1U);
  s.stop(0ms);
  const StopReport r = s.wait();
  EXPECT_FALSE(r.drained);
  EXPECT_EQ(r.cut, 1U);
  EXPECT_FALSE(r.aborted);
}

TEST(ServerApi, AnIdleConnectionLetsTheDrainComplete) {
  Server s(quiet_options(), echo());
  ASSERT_FALSE(s.start());
  auto fd = connect_local(s.port());
  ASSERT_TRUE(fd.valid());
  for (int i = 0; i < 500 && s.open_connections() == 0; ++i) std::this_thread::sleep_for(1ms);
  s.stop(5s);
  const StopReport r = s.wait();
  EXPECT_TRUE(r.drained);
  EXPECT_EQ(r.cut, 0U);
  EXPECT_TRUE(test::read_until_close(fd.get(), 5000ms).eof);
}

TEST(ServerApi, AbortEndsTheRunAtOnceAndSaysSo) {
  Server s(quiet_options(), echo());
  ASSERT_FALSE(s.start());
  auto fd = connect_local(s.port());
  ASSERT_TRUE(test::write_all(fd.get(), encode_header(100)));
  for (int i = 0; i < 500 && s.open_connections() == 0; ++i) std::this_thread::sleep_for(1ms);
  s.abort();
  const StopReport r = s.wait();
  EXPECT_TRUE(r.aborted);
  EXPECT_FALSE(r.drained);
  EXPECT_EQ(r.cut, 1U);
}

// A handler may set a timer, and ask how many loops there are, while it is
// made (the loops existed only after the handlers, and a timer set then
// crashed the server).
TEST(ServerApi, AHandlerMaySetTimersAsItIsMade) {
  struct Ticking final : FrameHandler {
    Ticking(Loop& l, std::atomic<int>& ticks, std::atomic<std::size_t>& loops) {
      loops = l.loops();
      timer = l.every(1ms, [&ticks] { ++ticks; });
    }
    void on_frame(Connection&, std::span<const std::byte>) override {}
    Timer timer;
  };
  std::atomic<int> ticks{0};
  std::atomic<std::size_t> loops{0};
  ServerOptions o = quiet_options();
  o.workers = 2;
  Server s(o, [&](Loop& l) { return std::make_unique<Ticking>(l, ticks, loops); });
  ASSERT_FALSE(s.start());
  for (int i = 0; i < 5000 && ticks < 10; ++i) std::this_thread::sleep_for(1ms);
  s.stop();
  (void)s.wait();
  EXPECT_GE(ticks.load(), 10);
  EXPECT_EQ(loops.load(), 2U);
}

// A connection already queued when the server starts is served at once;
// its handler's stop() must not be lost (the server published its runtime
// only after its workers ran, and a stop() in between did nothing: wait()
// then hung).
TEST(ServerApi, AStopFromTheFirstCallbackIsNotLost) {
  // A listening socket with a client already in its queue.
  std::vector<net::Endpoint> eps;
  std::string detail;
  ASSERT_TRUE(net::resolve("127.0.0.1", 0, true, eps, detail).ok());
  net::UniqueFd listener;
  ASSERT_TRUE(net::listen_on(eps.front(), 16, listener, net::ReusePort::none).ok());
  net::Endpoint bound;
  ASSERT_TRUE(net::local_endpoint(listener.get(), bound).ok());
  auto client = connect_local(bound.port());
  ASSERT_TRUE(client.valid());
  struct StopAtOpen final : FrameHandler {
    Server** server;
    explicit StopAtOpen(Server** s) : server(s) {}
    void on_open(Connection&) override { (*server)->stop(0ms); }
    void on_frame(Connection&, std::span<const std::byte>) override {}
  };
  Server* self = nullptr;
  ServerOptions o = quiet_options();
  o.listen_fd = listener.release();
  Server s(o, [&self](Loop&) { return std::make_unique<StopAtOpen>(&self); });
  self = &s;
  ASSERT_FALSE(s.start());
  auto done = std::async(std::launch::async, [&s] { return s.wait(); });
  if (done.wait_for(5s) != std::future_status::ready) {
    s.abort();
    FAIL() << "the stop from on_open was lost";
  }
  EXPECT_FALSE(done.get().aborted);
}

// stop() is safe from any thread, a handler's own included.
TEST(ServerApi, AHandlerMayStopItsOwnServer) {
  Server* self = nullptr;
  Server s(quiet_options(), [&self](Loop&) { return std::make_unique<Echo>(&self); });
  self = &s;
  ASSERT_FALSE(s.start());
  expect_echo(s.port(), "stop");
  EXPECT_TRUE(s.wait().drained);
}

// Connection ids are unique across workers (they were unique per loop
// only: two workers' first connections both had id 1), and name the loop.
TEST(ServerApi, ConnectionIdsAreUniqueAcrossWorkers) {
  struct Seen {
    std::mutex mutex;
    std::vector<std::pair<std::uint64_t, std::size_t>> ids;  // id, loop index
  } seen;
  class Record final : public Handler {
   public:
    explicit Record(Seen& s) : s_(s) {}
    void on_open(Connection& c) override {
      const std::lock_guard<std::mutex> lock(s_.mutex);
      s_.ids.emplace_back(c.id(), c.loop().index());
    }

   private:
    Seen& s_;
  };
  ServerOptions o = quiet_options();
  o.workers = 2;
  Server s(o, [&seen](Loop&) { return std::make_unique<Record>(seen); });
  ASSERT_FALSE(s.start());
  std::vector<net::UniqueFd> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(connect_local(s.port()));
  for (int i = 0; i < 2000; ++i) {
    {
      const std::lock_guard<std::mutex> lock(seen.mutex);
      if (seen.ids.size() == clients.size()) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  s.stop();
  (void)s.wait();
  ASSERT_EQ(seen.ids.size(), clients.size());
  std::set<std::uint64_t> unique;
  for (const auto& [id, index] : seen.ids) {
    unique.insert(id);
    EXPECT_EQ(id % 2, index) << "id " << id << " on loop " << index;
  }
  EXPECT_EQ(unique.size(), seen.ids.size());
}

// for_each_loop reaches every worker, each on its own thread; a task
// posted from outside to a connection's handle wakes its loop and sends.
TEST(ServerApi, TasksReachEveryLoopAndAConnectionByHandle) {
  struct Shared {
    std::mutex mutex;
    std::vector<Loop*> loops;
    std::vector<ConnectionHandle> opened;
  } shared;
  class Remember final : public Handler {
   public:
    explicit Remember(Shared& s) : s_(s) {}
    void on_open(Connection& c) override {
      const std::lock_guard<std::mutex> lock(s_.mutex);
      s_.opened.push_back(c.handle());
    }

   private:
    Shared& s_;
  };
  ServerOptions o = quiet_options();
  o.workers = 3;
  Server s(o, [&shared](Loop& l) {
    shared.loops.push_back(&l);
    return std::make_unique<Remember>(shared);
  });
  ASSERT_FALSE(s.start());
  ASSERT_EQ(shared.loops.size(), 3U);
  std::mutex m;
  std::set<std::size_t> reached;
  bool all_on_own_thread = true;
  s.for_each_loop([&](Loop& l) {
    const std::lock_guard<std::mutex> lock(m);
    reached.insert(l.index());
    all_on_own_thread = all_on_own_thread && l.on_loop_thread();
  });
  auto fd = connect_local(s.port());
  ASSERT_TRUE(fd.valid());
  ConnectionHandle h;
  for (int i = 0; i < 2000 && !h.valid(); ++i) {
    {
      const std::lock_guard<std::mutex> lock(shared.mutex);
      if (!shared.opened.empty()) h = shared.opened.front();
    }
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(h.valid());
  EXPECT_FALSE(shared.loops[0]->on_loop_thread()) << "this is not a loop's thread";
  EXPECT_TRUE(shared.loops[0]->post_to(
      h, [](Connection& c) { c.send_frame(std::as_bytes(std::span("pushed", 6))); }));
  const auto expected = frame_of("pushed");
  const auto ex = test::exchange(fd.get(), {}, expected.size(), false, 5000ms);
  EXPECT_EQ(ex.received, expected);
  s.stop();
  (void)s.wait();
  EXPECT_EQ(reached, (std::set<std::size_t>{0, 1, 2}));
  EXPECT_TRUE(all_on_own_thread);
}

// serve(), the program-level wrapper, with the log off writes nothing to
// stdout (it printed "listening on"), leaves SIGPIPE as it was (it ignored
// it for the whole process), and gives the caller back its signal mask and
// handlers. A SIGTERM sent before its handler exists waits, blocked, in
// this thread's mask (inherited by the thread that runs serve()).
TEST(Serve, WithTheLogOffItWritesNothingAndLeavesTheProcessAsItWas) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &term, &old);
  ServerOptions o = quiet_options();
  o.log_level = LogLevel::off;
  // Socket activation is asked for (options.systemd), not the library's
  // default: these variables are neither read nor removed, and descriptor
  // 3 (whatever it is here) is not taken (it was, and serve() failed).
  const std::string pid = std::to_string(::getpid());
  ::setenv("LISTEN_PID", pid.c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  testing::internal::CaptureStdout();
  int rc = -1;
  sigset_t mask_after_serve;
  std::thread t([&] {
    rc = serve(o, echo());
    pthread_sigmask(SIG_BLOCK, nullptr, &mask_after_serve);
  });
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  t.join();
  const std::string out = testing::internal::GetCapturedStdout();
  set_log_level(LogLevel::info);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "");
  EXPECT_STREQ(::getenv("LISTEN_FDS"), "1") << "the environment is the program's";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  EXPECT_EQ(sigismember(&mask_after_serve, SIGTERM), 1) << "serve() restores the caller's mask";
  struct sigaction now {};
  sigaction(SIGPIPE, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL) << "SIGPIPE is left alone";
  sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL) << "the handler is removed";
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace
}  // namespace framed
