#include "server/server.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "transport/make.h"
#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// Adds 1 to an eventfd (from any thread).
void signal_fd(int fd) noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
}

// Takes an eventfd's count (0 if none).
std::uint64_t take_fd(int fd) noexcept {
  std::uint64_t n = 0;
  if (::read(fd, &n, sizeof n) != static_cast<ssize_t>(sizeof n)) return 0;
  return n;
}

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
  // auto is epoll: in bench/RESULTS.md (the paired tables, the new core's
  // included) io_uring saves 7-9% of the CPU per frame with many
  // connections but costs 2-3% more and 5-6% of the frames/s on pipelined
  // and bulk frames, and auto cannot know the traffic in advance (README,
  // "Choosing a backend"). Were that to change, auto would probe io_uring
  // here and fall back to epoll with an info line.
  if (config.backend == Backend::automatic) config.backend = Backend::epoll;
  return 0;
}

Server::Server(const Config& config, std::vector<net::UniqueFd> listeners,
               HandlerFactory make_handler, loop::Clock& clock, bool inherited)
    : config_(config),
      clock_(clock),
      limit_(config.max_conns),
      make_handler_(std::move(make_handler)),
      listeners_(std::move(listeners)),
      inherited_(inherited) {}

Server::~Server() = default;

bool Server::prepare(std::string& error) {
  if (const auto e = signals_.open(); !e.ok()) {
    error = e.message();
    return false;
  }
  done_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  acks_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!done_ || !acks_) {
    error = net::SysError{"eventfd", errno}.message();
    return false;
  }
  transport::TransportOptions options;
  options.backend = config_.backend;
  options.read_chunk = config_.read_chunk;
  options.ring = ring_options(config_);
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    workers_.push_back(std::make_unique<Worker>(i, config_, clock_, limit_));
    report_acks_.push_back(std::make_unique<std::atomic<std::uint64_t>>(0));
    Worker& w = *workers_.back();
    auto handler = make_handler_(w);
    if (!handler) {
      error = "the handler factory returned no handler";
      return false;
    }
    w.set_handler(std::move(handler));
    const auto make = [&](transport::Sink& sink, std::string& why) {
      auto t = transport::make_transport(options, sink, why);
      if (!t && options.backend == Backend::io_uring)
        why = "worker " + std::to_string(i) + ": " + why;
      return t;
    };
    if (!w.init(make, std::move(listeners_[i]), error, inherited_)) return false;
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
    return head + "accepted " + value(&Counters::accepted) + ", refused " +
           value(&Counters::refused) + ", timed out " + value(&Counters::timed_out) +
           ", protocol errors " + value(&Counters::protocol_errors) + ", " + config_.frames_label +
           " " + value(&Counters::frames_echoed) + ", " + config_.bytes_label + " " +
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

void Server::post_all(const std::function<void(Worker&)>& task) {
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([worker, task] { task(*worker); });
  }
}

void Server::request_exit() {
  exiting_ = true;
  post_all([](Worker& w) { w.request_exit(); });
}

void Server::take_finished() {
  const std::uint64_t n = take_fd(done_.get());
  if (n == 0) return;
  finished_ += n;
  // A worker that ended before any stop request failed (its loop could
  // not wait): a server with a dead worker would silently serve part of
  // its connections, so stop them all and exit 1.
  if (!stopping_ && !exiting_) {
    log(LogLevel::error, "a worker failed; stopping every worker");
    request_exit();
  }
}

void Server::wait_acks(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto give_up = clock_.now() + limit;
  while (!done() && finished_ < workers_.size()) {
    const auto left = give_up - clock_.now();
    if (left <= loop::Duration::zero()) break;
    pollfd fds[2] = {{acks_.get(), POLLIN, 0}, {done_.get(), POLLIN, 0}};
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    if (::poll(fds, 2, static_cast<int>(ms)) < 0 && errno != EINTR) break;
    (void)take_fd(acks_.get());
    if ((fds[1].revents & POLLIN) != 0) take_finished();
  }
}

int Server::run() {
  std::vector<std::thread> threads;
  std::vector<int> status(workers_.size(), 0);
  const int done_fd = done_.get();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    threads.emplace_back([this, i, done_fd, &status] {
      status[i] = workers_[i]->run();
      signal_fd(done_fd);
    });
  }
  bool second_signal = false;
  std::size_t open_at_exit = 0;
  while (finished_ < workers_.size()) {
    pollfd fds[2] = {{signals_.fd(), POLLIN, 0}, {done_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log(LogLevel::error, net::SysError{"poll", errno}.message());
      request_exit();
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) take_finished();
    if ((fds[0].revents & POLLIN) == 0) continue;
    const SignalCounts got = signals_.take();
    const SignalPlan plan = plan_for(got, stopping_);
    if (plan.report) {
      // Ask the workers first, so the report includes everything they had
      // done before the signal (bounded, should a worker be busy).
      const std::uint64_t req = ++reports_;
      const int acks_fd = acks_.get();
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        std::atomic<std::uint64_t>* ack = report_acks_[i].get();
        workers_[i]->post([ack, req, acks_fd] {
          ack->store(req, std::memory_order_release);
          signal_fd(acks_fd);
        });
      }
      wait_acks(
          [&] {
            return std::all_of(report_acks_.begin(), report_acks_.end(), [&](const auto& a) {
              return a->load(std::memory_order_acquire) >= req;
            });
          },
          std::chrono::milliseconds(500));
      log_counters("SIGUSR1");
    }
    if (plan.drain) {
      stopping_ = true;
      log(LogLevel::info,
          got.interrupt > 0 && got.terminate > 0
              ? "received SIGINT and SIGTERM together: one request to stop"
              : std::string("received ") + (got.interrupt > 0 ? "SIGINT" : "SIGTERM"));
      const loop::TimePoint deadline = clock_.now() + config_.drain_timeout;
      const int acks_fd = acks_.get();
      std::atomic<std::size_t>* acked = &stop_acks_;
      post_all([deadline, acks_fd, acked](Worker& w) {
        w.begin_shutdown(deadline);
        acked->fetch_add(1, std::memory_order_acq_rel);
        signal_fd(acks_fd);
      });
      // Say it once it is true: every worker has closed its listener and
      // begun its drain (bounded, should a worker be stuck).
      wait_acks(
          [&] { return stop_acks_.load(std::memory_order_acquire) + finished_ >= workers_.size(); },
          std::chrono::seconds(2));
      const std::string draining = "draining " + std::to_string(limit_.open()) +
                                   " connection(s) within " + ms_text(config_.drain_timeout);
      log(LogLevel::info, "shutting down: listener closed, " + draining);
      // systemd shows the unit as deactivating from here on, and knows the
      // exit that follows is the drain ending rather than a crash.
      if (const auto e = notifier_.send("STOPPING=1\nSTATUS=" + draining); !e.ok()) {
        log(LogLevel::warn, "cannot notify systemd: " + e.message());
      }
    }
    if (plan.exit_now && !second_signal) {
      // A stop signal during the drain means: stop now.
      second_signal = true;
      open_at_exit = limit_.open();
      request_exit();
    }
  }
  for (auto& t : threads) t.join();
  int code = 0;
  for (int s : status) code = std::max(code, s);
  if (second_signal) {
    log(LogLevel::warn, "second signal: exiting at once with " + std::to_string(open_at_exit) +
                            " connection(s) open");
    code = 1;
  } else if (exiting_) {
    code = 1;
  } else if (code == 0) {
    log(LogLevel::info, "shutdown complete: all connections closed");
  }
  log_counters("exit");
  return code;
}

}  // namespace framed::server
