#include "server/server.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

}  // namespace

loop::RingOptions ring_options(const Config& config) {
  loop::RingOptions o;
  o.buffers = config.uring_buffers;
  o.buffer_size = config.read_chunk;
  const std::size_t cq = 3 * config.max_conns + 2 * std::size_t{config.uring_buffers} + 64;
  o.cq_entries = static_cast<unsigned>(std::min<std::size_t>(cq, 65536));
  return o;
}

int resolve_backend(Config& config) {
  const char* name = config.name.c_str();
  if (config.backend == Backend::io_uring) {
    std::string why;
    if (!loop::uring_built()) {
      (void)loop::Ring::create(ring_options(config), why);
      std::fprintf(stderr, "%s: --backend io_uring: %s\n", name, why.c_str());
      return 2;
    }
    if (!loop::Ring::create(ring_options(config), why)) {
      std::fprintf(stderr, "%s: io_uring is unavailable here: %s\n", name, why.c_str());
      return 1;
    }
    return 0;
  }
  // auto is epoll: in bench/RESULTS.md (the paired table) io_uring saves
  // 3-8% of the CPU per frame with many connections but spends 9% more on
  // bulk frames, and auto cannot know the traffic in advance (README,
  // "Choosing a backend"). Were that to change, auto would probe io_uring
  // here and fall back to epoll with an info line.
  if (config.backend == Backend::automatic) config.backend = Backend::epoll;
  return 0;
}

Server::Server(const Config& config, std::vector<net::UniqueFd> listeners,
               HandlerFactory make_handler)
    : shared_(config), make_handler_(std::move(make_handler)), listeners_(std::move(listeners)) {}

Server::~Server() = default;

bool Server::prepare(std::string& error) {
  if (const auto e = signals_.open(); !e.ok()) {
    error = e.message();
    return false;
  }
  done_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!done_) {
    error = net::SysError{"eventfd", errno}.message();
    return false;
  }
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    net::SysError e;
    // io_uring: no poller; a ring created here, disabled, so every worker's
    // exists (and any failure is reported) before the first accept, and
    // enabled by the worker on its own thread.
    std::unique_ptr<loop::Poller> poller;
    std::unique_ptr<loop::Ring> ring;
    if (shared_.config().backend == Backend::io_uring) {
      loop::RingOptions options = ring_options(shared_.config());
      options.disabled = true;
      std::string why;
      ring = loop::Ring::create(options, why);
      if (!ring) {
        error = "worker " + std::to_string(i) + ": " + why;
        return false;
      }
    } else {
      poller = loop::make_poller(shared_.config().backend, e);
      if (!poller) {
        error = e.message();
        return false;
      }
    }
    workers_.push_back(
        std::make_unique<Worker>(i, shared_, std::move(poller), std::move(listeners_[i])));
    workers_.back()->set_ring(std::move(ring));
    auto handler = make_handler_(*workers_.back());
    if (!handler) {
      error = "the handler factory returned no handler";
      return false;
    }
    workers_.back()->set_handler(std::move(handler));
    if (e = workers_.back()->init(); !e.ok()) {
      error = e.message();
      return false;
    }
  }
  return true;
}

void Server::log_counters(const char* when) const {
  auto total = [&](std::atomic<std::uint64_t> Counters::*field) {
    std::uint64_t sum = 0;
    for (const auto& w : workers_) sum += (w->counters().*field).load(std::memory_order_relaxed);
    return std::to_string(sum);
  };
  auto line = [&](const std::string& head, auto value) {
    const Config& o = shared_.config();
    return head + "accepted " + value(&Counters::accepted) + ", refused " +
           value(&Counters::refused) + ", timed out " + value(&Counters::timed_out) +
           ", protocol errors " + value(&Counters::protocol_errors) + ", " + o.frames_label + " " +
           value(&Counters::frames_echoed) + ", " + o.bytes_label + " " +
           value(&Counters::bytes_echoed) + ", open " + value(&Counters::open);
  };
  log(LogLevel::info, line(std::string("counters (") + when + "): ", total));
  if (workers_.size() > 1 && util::log_enabled(LogLevel::debug)) {
    for (const auto& w : workers_) {
      const Counters& c = w->counters();
      log(LogLevel::debug,
          line("worker " + std::to_string(w->worker_index()) + " counters (" + when + "): ",
               [&](std::atomic<std::uint64_t> Counters::*field) {
                 return std::to_string((c.*field).load(std::memory_order_relaxed));
               }));
    }
  }
}

int Server::run() {
  std::vector<std::thread> threads;
  std::vector<int> status(workers_.size(), 0);
  const int done_fd = done_.get();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    threads.emplace_back([this, i, done_fd, &status] {
      status[i] = workers_[i]->run();
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = ::write(done_fd, &one, sizeof one);
    });
  }
  std::size_t finished = 0;
  bool stopping = false;
  bool second_signal = false;
  while (finished < workers_.size()) {
    pollfd fds[2] = {{signals_.fd(), POLLIN, 0}, {done_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log(LogLevel::error, net::SysError{"poll", errno}.message());
      shared_.request_exit();
      for (auto& w : workers_) w->wake();
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t n = 0;
      if (::read(done_.get(), &n, sizeof n) == static_cast<ssize_t>(sizeof n)) finished += n;
      // A worker that ended before any stop request failed (its loop could
      // not wait): a server with a dead worker would silently serve part of
      // its connections, so stop them all and exit 1.
      if (!stopping && !shared_.exit_requested()) {
        log(LogLevel::error, "a worker failed; stopping every worker");
        shared_.request_exit();
        for (auto& w : workers_) w->wake();
      }
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    const SignalCounts got = signals_.take();
    if (got.user1 > 0) {
      // Ask the workers first, so the report includes everything they had
      // done before the signal (bounded, should a worker be busy).
      const std::uint64_t req = shared_.request_report();
      for (auto& w : workers_) w->wake();
      const auto give_up = Clock::now() + std::chrono::milliseconds(500);
      auto all_acked = [&] {
        for (const auto& w : workers_) {
          if (w->report_acked() < req) return false;
        }
        return true;
      };
      while (!all_acked() && Clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      log_counters("SIGUSR1");
    }
    std::uint32_t stops = got.stops();
    if (stops == 0) continue;
    if (!stopping) {
      stopping = true;
      log(LogLevel::info, std::string("received ") + (got.interrupt > 0 ? "SIGINT" : "SIGTERM"));
      shared_.request_stop(Clock::now() + shared_.config().drain_timeout);
      for (auto& w : workers_) w->wake();
      // Say it once it is true: every worker has closed its listener and
      // begun its drain (bounded, should a worker be stuck).
      const auto give_up = Clock::now() + std::chrono::seconds(2);
      while (shared_.stop_acks() + finished < workers_.size() && Clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      const std::string draining = "draining " + std::to_string(shared_.open()) +
                                   " connection(s) within " +
                                   ms_text(shared_.config().drain_timeout);
      log(LogLevel::info, "shutting down: listener closed, " + draining);
      // systemd shows the unit as deactivating from here on, and knows the
      // exit that follows is the drain ending rather than a crash.
      if (const auto e = notifier_.send("STOPPING=1\nSTATUS=" + draining); !e.ok()) {
        log(LogLevel::warn, "cannot notify systemd: " + e.message());
      }
      --stops;
    }
    if (stops > 0) {
      // A stop signal during the drain (or two at once) means: stop now.
      second_signal = true;
      shared_.request_exit();
      for (auto& w : workers_) w->wake();
    }
  }
  for (auto& t : threads) t.join();
  int code = 0;
  for (int s : status) code = std::max(code, s);
  if (second_signal) {
    log(LogLevel::warn, "second signal: exiting at once with " + std::to_string(shared_.open()) +
                            " connection(s) open");
    code = 1;
  } else if (shared_.exit_requested()) {
    code = 1;
  } else if (code == 0) {
    log(LogLevel::info, "shutdown complete: all connections closed");
  }
  log_counters("exit");
  return code;
}

}  // namespace framed::server
