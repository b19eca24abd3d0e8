// framed-embed: the library inside a program of its own, every part once.
// Starts two servers on port 0 in one process, learns their ports, talks to
// each with framed::Client, fires a timer, posts a task from another
// thread, opens an outbound connection from one server to the other, stops
// both, and exits 0 only if every step did what it should (each step says
// so on stdout; a failure says what on stderr and exits 1).
#include <framed/client.h>
#include <framed/server.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::string text(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Echoes every frame; "tick" is answered by a timer 20 ms later instead.
// The timer lives in the connection's context: it dies with the
// connection, so it never fires into one that is gone.
class Echo final : public framed::FrameHandler {
 public:
  void on_frame(framed::Connection& c, std::span<const std::byte> payload) override {
    if (text(payload) == "tick") {
      framed::Connection* conn = &c;
      c.emplace_context<framed::Timer>(
          c.loop().after(20ms, [conn] { conn->send_frame(bytes("tock")); }));
      return;
    }
    c.send_frame(payload);
  }
};

// The outbound side: sends "hello" once connected, reports the echo.
class Caller final : public framed::FrameHandler {
 public:
  explicit Caller(std::shared_ptr<std::promise<std::string>> done) : done_(std::move(done)) {}
  void on_open(framed::Connection& c) override { c.send_frame(bytes("hello")); }
  void on_frame(framed::Connection& c, std::span<const std::byte> payload) override {
    done_->set_value(text(payload));
    c.close("done");
  }
  void on_connect_error(framed::ConnectionHandle, const framed::Error& e) override {
    done_->set_value("error: " + e.message);
  }

 private:
  std::shared_ptr<std::promise<std::string>> done_;
};

bool check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) std::fprintf(stderr, "framed-embed: %s failed\n", what.c_str());
  return ok;
}

std::string ask(std::uint16_t port, std::string_view request) {
  framed::Client c;
  std::vector<std::byte> reply;
  framed::Error e = c.connect("127.0.0.1", port, 5s);
  if (!e) e = c.send_frame(bytes(request), 5s);
  if (!e) e = c.receive_frame(reply, 5s);
  return e ? "error: " + e.message : text(reply);
}

}  // namespace

int main() {
  framed::set_log_level(framed::LogLevel::warn);
  framed::ServerOptions options;
  options.port = 0;
  options.workers = 2;
  auto make = [](framed::Loop&) { return std::make_unique<Echo>(); };
  framed::Server a(options, make);
  framed::Server b(options, make);
  if (framed::Error e = a.start()) {
    (void)check(false, "start a: " + e.message);
    return 1;
  }
  if (framed::Error e = b.start()) {
    (void)check(false, "start b: " + e.message);
    return 1;
  }
  bool ok = check(
      a.port() != 0 && b.port() != 0 && a.port() != b.port(),
      "two servers on ports " + std::to_string(a.port()) + " and " + std::to_string(b.port()));
  ok = check(ask(a.port(), "to a") == "to a", "a client's frame echoed by a") && ok;
  ok = check(ask(b.port(), "to b") == "to b", "a client's frame echoed by b") && ok;
  ok = check(ask(a.port(), "tick") == "tock", "a timer answers 20 ms later") && ok;

  // A task posted from a thread that is no loop's, to every loop of a.
  std::atomic<int> reached{0};
  std::thread([&] {
    a.for_each_loop([&](framed::Loop& l) { reached += l.on_loop_thread(); });
  }).join();
  for (int i = 0; i < 500 && reached < 2; ++i) std::this_thread::sleep_for(1ms);
  ok = check(reached == 2, "a task posted from another thread ran on both loops of a") && ok;

  // An outbound connection from a loop of a to b.
  auto done = std::make_shared<std::promise<std::string>>();
  auto outcome = done->get_future();
  const std::uint16_t b_port = b.port();
  a.for_each_loop([done, b_port](framed::Loop& l) {
    if (l.index() == 0) (void)l.connect("127.0.0.1", b_port, std::make_unique<Caller>(done));
  });
  const bool answered = outcome.wait_for(5s) == std::future_status::ready;
  ok = check(answered && outcome.get() == "hello", "an outbound connection from a to b") && ok;

  b.stop();
  a.stop();
  const framed::StopReport rb = b.wait();
  const framed::StopReport ra = a.wait();
  ok = check(ra.drained && rb.drained, "both stopped, every connection drained") && ok;
  return ok ? 0 : 1;
}
