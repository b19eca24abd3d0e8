// timer-echo: framed-server's echo with the timers a real service keeps,
// for bench/ab.sh against framed-server: FRAMED_TIMERS (default 10) timers
// armed per connection for its life (a keep-alive, per-request timeouts),
// and on every frame one request timeout cancelled and set again. None
// fires during a run (60 s): what is measured is what armed timers cost
// the loop. With FRAMED_POST_PROBE=FILE, a thread that is no loop's posts
// a task to loop 0 every millisecond and writes the delay until it ran
// (p50, p99, max, in microseconds) to FILE at exit.
//   framed-bench --server build/release/bench/timer-echo --connections 10000 ...
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "framed/server.h"
#include "server/config.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct PerConn {
  std::vector<framed::Timer> armed;
  framed::Timer request;
};

class Probe;

class TimedEcho final : public framed::ChunkHandler {
 public:
  explicit TimedEcho(std::size_t timers) : timers_(timers) {}
  ~TimedEcho() override;
  std::unique_ptr<Probe> probe;  // Loop 0's, with FRAMED_POST_PROBE.
  void on_open(framed::Connection& c) override {
    if (timers_ == 0) return;
    PerConn& p = c.emplace_context<PerConn>();
    for (std::size_t i = 0; i < timers_; ++i) p.armed.push_back(c.loop().after(60s, [] {}));
  }
  void on_chunk(framed::Connection& c, const framed::Chunk& chunk) override {
    if (chunk.first) c.send(chunk.header);
    c.send(chunk.payload);
    if (chunk.last && timers_ > 0) {
      // A request answered: the next one's timeout is the same timer,
      // pushed back (Timer::restart: no allocation).
      PerConn& p = *c.context<PerConn>();
      if (!p.request.restart(30s)) p.request = c.loop().after(30s, [] {});
    }
  }
  void on_end_of_input(framed::Connection& c, std::span<const std::byte> held) override {
    c.send(held);
  }

 private:
  std::size_t timers_;
};

// Posts a task to `loop` every millisecond from its own thread and keeps
// each task's delay until it ran. Owned by loop 0's handler, so it stops
// (and writes its figures) before that loop is destroyed.
class Probe {
 public:
  Probe(framed::Loop& loop, std::string file) : file_(std::move(file)) {
    thread_ = std::thread([this, &loop] {
      while (!stop_) {
        std::this_thread::sleep_for(1ms);
        const auto posted = Clock::now();
        loop.post([this, posted] {
          const double us =
              std::chrono::duration<double, std::micro>(Clock::now() - posted).count();
          const std::lock_guard<std::mutex> lock(mutex_);
          delays_.push_back(us);
        });
      }
    });
  }
  ~Probe() {
    stop_ = true;
    thread_.join();
    const std::lock_guard<std::mutex> lock(mutex_);
    std::sort(delays_.begin(), delays_.end());
    auto at = [&](double q) {
      return delays_.empty()
                 ? 0.0
                 : delays_[static_cast<std::size_t>(q * static_cast<double>(delays_.size() - 1))];
    };
    if (FILE* f = std::fopen(file_.c_str(), "w"); f != nullptr) {
      std::fprintf(f, "posts %zu p50_us %.1f p99_us %.1f max_us %.1f\n", delays_.size(), at(0.5),
                   at(0.99), delays_.empty() ? 0.0 : delays_.back());
      std::fclose(f);
    }
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

 private:
  std::string file_;
  std::mutex mutex_;
  std::vector<double> delays_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TimedEcho::~TimedEcho() = default;

}  // namespace

int main(int argc, char** argv) {
  framed::server::Config config;
  std::string message;
  if (framed::server::parse_args(argc, argv, config, message) !=
      framed::server::ParseOutcome::run) {
    std::fprintf(stderr, "timer-echo: %s\n", message.c_str());
    return 2;
  }
  config.name = "timer-echo";
  const char* timers_env = std::getenv("FRAMED_TIMERS");
  const std::size_t timers = timers_env != nullptr ? std::strtoul(timers_env, nullptr, 10) : 10;
  const char* probe_file = std::getenv("FRAMED_POST_PROBE");
  return framed::serve(config, [&](framed::Loop& l) {
    auto h = std::make_unique<TimedEcho>(timers);
    if (l.index() == 0 && probe_file != nullptr) h->probe = std::make_unique<Probe>(l, probe_file);
    return h;
  });
}
