// delay-echo: a test backend for framed-router, built on the public
// library. It echoes every frame, in order on each connection, but late:
//   --delay-max DUR  each reply waits a random time up to DUR, drawn from
//                    --seed and the connection (replies stay in order: one
//                    never leaves before the reply to an earlier frame);
//   --service DUR    each connection answers one frame per DUR, without
//                    blocking the worker: a reply leaves DUR after the one
//                    before it, or after its frame if that came later (a
//                    backend that is slow but keeps answering);
//   --work DUR       each frame costs DUR of the worker's time (a sleep that
//                    blocks the loop: a backend that serves one frame at a
//                    time, as the router's benchmark wants);
//   --stop-reading-after N  after N frames in all, no connection is read
//                    or answered any more (a backend that stops reading).
// SIGUSR1 logs the counters; "frames echoed" counts the replies sent.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "framed/server.h"
#include "framed/version.h"
#include "util/cli.h"
#include "util/log.h"

namespace {

using namespace std::chrono_literals;
using framed::util::CliOption;

struct Settings {
  std::chrono::milliseconds delay_max{0};
  std::chrono::milliseconds work{0};
  std::chrono::milliseconds service{0};
  std::uint64_t seed = 1;
  std::size_t stop_after = 0;  // 0: never.
};

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

// One connection's replies still to send, oldest first.
struct Pending {
  struct Reply {
    framed::Loop::Clock::time_point due;
    std::vector<std::byte> payload;
  };
  std::deque<Reply> replies;
  framed::Timer timer;
  std::uint64_t rng = 0;
  framed::Loop::Clock::time_point last_due{};  // --service: the latest reply's.
};

class DelayEcho final : public framed::FrameHandler {
 public:
  DelayEcho(const Settings& s, std::size_t& frames) : s_(s), frames_(frames) {}

  void on_open(framed::Connection& c) override {
    c.emplace_context<Pending>().rng = mix(s_.seed ^ mix(c.id()));
  }

  void on_frame(framed::Connection& c, std::span<const std::byte> payload) override {
    if (s_.stop_after > 0 && frames_ >= s_.stop_after) {
      c.pause_reading();  // Stopped: this frame and all after it wait for ever.
      return;
    }
    ++frames_;
    if (s_.work.count() > 0) std::this_thread::sleep_for(s_.work);
    auto* p = c.context<Pending>();
    if (s_.delay_max.count() == 0 && s_.service.count() == 0 && p->replies.empty()) {
      c.send_frame(payload);
      return;
    }
    auto due = c.loop().now();
    if (s_.service.count() > 0) {
      due = std::max(due, p->last_due) + s_.service;
      p->last_due = due;
    } else {
      p->rng = mix(p->rng);
      due += std::chrono::milliseconds(
          static_cast<std::int64_t>(p->rng % static_cast<std::uint64_t>(s_.delay_max.count() + 1)));
    }
    if (!p->replies.empty() && p->replies.back().due > due) due = p->replies.back().due;
    p->replies.push_back({due, {payload.begin(), payload.end()}});
    c.hold();
    if (p->replies.size() == 1) arm(c, *p);
  }

 private:
  void arm(framed::Connection& c, Pending& p) {
    const auto wait =
        std::chrono::ceil<std::chrono::milliseconds>(p.replies.front().due - c.loop().now());
    framed::Loop& loop = c.loop();
    const std::uint64_t id = c.id();
    p.timer = loop.after(std::max(wait, 0ms), [this, &loop, id] { fire(loop, id); });
  }
  void fire(framed::Loop& loop, std::uint64_t id) {
    framed::Connection* c = loop.find(id);
    if (c == nullptr) return;
    auto* p = c->context<Pending>();
    while (!p->replies.empty() && p->replies.front().due <= loop.now()) {
      c->send_frame(p->replies.front().payload);
      p->replies.pop_front();
    }
    if (p->replies.empty()) {
      c->release();
    } else {
      arm(*c, *p);
    }
  }
  const Settings& s_;
  std::size_t& frames_;
};

constexpr const char* kUsage = R"(usage: delay-echo [options]

A test backend: echoes every frame, in order, after a seeded random delay.

  --host ADDR                 address to listen on (default 127.0.0.1)
  --port N                    port, 0 picks one (default 0)
  --delay-max DUR             each reply waits up to DUR (default 0)
  --seed N                    the delays' seed (default 1)
  --service DUR               each connection answers one frame per DUR, in
                              turn, without blocking the worker (default 0)
  --work DUR                  each frame blocks the worker for DUR (default 0)
  --stop-reading-after N      after N frames, read and answer nothing more
  --log-level L               debug, info, warn, error or off (default warn)
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace framed::util;
  Settings s;
  framed::ServerOptions o;
  o.port = 0;
  o.name = "delay-echo";
  o.log_level = framed::LogLevel::warn;
  std::string level = "warn";
  const CliOption options[] = {
      {"--host", "an address", set_text(o.host)},
      {"--port", "a port from 0 to 65535", set_port(o.port, true)},
      {"--delay-max", "a duration", set_duration(s.delay_max)},
      {"--seed", "a number", set_u64(s.seed, UINT64_MAX)},
      {"--work", "a duration", set_duration(s.work)},
      {"--service", "a duration", set_duration(s.service)},
      {"--stop-reading-after", "a count", set_count(s.stop_after, 1U << 30U, true)},
      {"--log-level", "debug, info, warn, error or off", set_text(level)},
  };
  std::string message;
  switch (parse_cli(argc, argv, options, nullptr, message)) {
    case CliOutcome::help: std::fputs(kUsage, stdout); return 0;
    case CliOutcome::version: std::printf("delay-echo %s\n", FRAMED_VERSION); return 0;
    case CliOutcome::error: return usage_error("delay-echo", message);
    case CliOutcome::run: break;
  }
  const auto parsed = parse_log_level(level);
  if (!parsed) return usage_error("delay-echo", "invalid value '" + level + "' for --log-level");
  o.log_level = *parsed;
  std::size_t frames = 0;  // One worker: its thread only.
  framed::ServeOptions program;
  program.frames_label = "frames echoed";
  program.bytes_label = "bytes echoed";
  return framed::serve(
      o, [&](framed::Loop&) { return std::make_unique<DelayEcho>(s, frames); }, program);
}
