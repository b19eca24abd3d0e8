#include "server/runtime.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include <csignal>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <latch>
#include <thread>

#include "tls/layer.h"
#include "transport/make.h"
#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

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

loop::RingOptions ring_options(const ServerOptions& config) {
  loop::RingOptions o;
  o.buffers = config.uring_buffers;
  o.buffer_size = config.read_chunk;
  const std::size_t cq = 3 * config.max_conns + 2 * std::size_t{config.uring_buffers} + 64;
  o.cq_entries = static_cast<unsigned>(std::min<std::size_t>(cq, 65536));
  return o;
}

Error resolve_backend(ServerOptions& config) {
  if (config.backend == Backend::io_uring) {
    std::string why;
    if (!loop::uring_built()) {
      (void)loop::Ring::create(ring_options(config), why);
      return {"backend io_uring: " + why};
    }
    if (!loop::Ring::create(ring_options(config), why)) {
      return {"io_uring is unavailable here: " + why};
    }
    return {};
  }
  // auto is epoll: in bench/RESULTS.md (the paired tables, the new core's
  // included) io_uring saves 7-9% of the CPU per frame with many
  // connections but costs 2-3% more and 5-6% of the frames/s on pipelined
  // and bulk frames, and auto cannot know the traffic in advance (README,
  // "Choosing a backend"). Were that to change, auto would probe io_uring
  // here and fall back to epoll with an info line.
  if (config.backend == Backend::automatic) config.backend = Backend::epoll;
  return {};
}

Runtime::Runtime(const ServerOptions& config, std::vector<net::UniqueFd> listeners,
                 HandlerFactory make_handler, loop::Clock& clock, bool inherited)
    : config_(config),
      clock_(clock),
      limit_(config.max_conns, config.max_conns_per_ip, config.outbound_reserve),
      make_handler_(std::move(make_handler)),
      listeners_(std::move(listeners)),
      inherited_(inherited) {}

Runtime::~Runtime() {
  if (!threads_.empty() && !joined_) {
    abort();
    (void)wait();
  }
}

Error Runtime::reload_tls() {
  if (!tls_) return {"TLS is off: there is no certificate to reload"};
  std::string why;
  if (!tls::reload(*tls_, config_.tls, why)) return {why};
  return {};
}

Error Runtime::prepare() {
  if (config_.tls.enabled()) {
    std::string why;
    tls_ = tls::make_slot(config_.tls, why);
    if (!tls_) return {why};
  }
  done_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  acks_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!done_ || !acks_) return {net::SysError{"eventfd", errno}.message()};
  transport::TransportOptions options;
  options.backend = config_.backend;
  options.read_chunk = config_.read_chunk;
  options.ring = ring_options(config_);
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    workers_.push_back(std::make_unique<Worker>(i, config_, clock_, limit_));
    report_acks_.push_back(std::make_unique<std::atomic<std::uint64_t>>(0));
    Worker& w = *workers_.back();
    const auto make = [&](transport::Sink& sink, std::string& why) {
      const auto plain = [&](transport::Sink& below, std::string& e) {
        return transport::make_transport(options, below, e);
      };
      auto t =
          tls_ ? tls::make_layer(tls_, sink, plain, config_.proxy_protocol, why) : plain(sink, why);
      if (!t && options.backend == Backend::io_uring)
        why = "worker " + std::to_string(i) + ": " + why;
      return t;
    };
    std::string error;
    if (!w.init(make, std::move(listeners_[i]), error, inherited_)) return {error};
  }
  // The handlers last, once every loop exists: a handler may set timers
  // or ask loops() as it is made.
  for (auto& w : workers_) w->set_siblings(&workers_);
  for (auto& w : workers_) {
    auto handler = make_handler_(*w);
    if (!handler) return {"the handler factory returned no handler"};
    w->set_handler(std::move(handler));
  }
  return {};
}

Error Runtime::start() {
  // Threads inherit the mask of the thread that creates them: with every
  // signal blocked there, no worker is ever chosen for a process-directed
  // signal (the program's handlers run in its own threads) nor interrupted
  // by one. The caller's mask is restored at once.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &all, &old); rc != 0) {
    return {net::SysError{"pthread_sigmask", rc}.message()};
  }
  status_.assign(workers_.size(), 0);
  const int done_fd = done_.get();
  Error error;
  // Once start() returns, every worker knows its thread: a Loop asked
  // on_loop_thread() from elsewhere must say no, never "not started yet".
  std::latch bound(static_cast<std::ptrdiff_t>(workers_.size()));
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    try {
      threads_.emplace_back([this, i, done_fd, &bound] {
        workers_[i]->bind_thread();
        bound.count_down();
        status_[i] = workers_[i]->run();
        signal_fd(done_fd);
      });
    } catch (const std::system_error& e) {
      error = {std::string("cannot start a worker thread: ") + e.what()};
      bound.count_down(static_cast<std::ptrdiff_t>(workers_.size() - i));
      break;
    }
  }
  bound.wait();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (error) {
    abort();
    (void)wait();
  }
  return error;
}

bool Runtime::stopping() const noexcept {
  const std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

bool Runtime::stop(std::chrono::milliseconds drain_timeout) {
  const loop::TimePoint deadline = clock_.now() + drain_timeout;
  bool first = false;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (aborted_ || deadline >= stop_deadline_) return false;
    first = !stopping_;
    stopping_ = true;
    stop_deadline_ = deadline;
  }
  const int acks_fd = acks_.get();
  std::atomic<std::size_t>* acked = &stop_acks_;
  post_all([deadline, acks_fd, acked, first](Worker& w) {
    w.begin_shutdown(deadline);
    if (first) {
      acked->fetch_add(1, std::memory_order_acq_rel);
      signal_fd(acks_fd);
    }
  });
  return first;
}

void Runtime::abort() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (aborted_) return;
    aborted_ = true;
  }
  post_all([](Worker& w) { w.request_exit(); });
}

void Runtime::log_counters(const char* when) const {
  auto total = [&](std::atomic<std::uint64_t> Counters::*field) {
    std::uint64_t sum = 0;
    for (const auto& w : workers_) sum += (w->counters().*field).load(std::memory_order_relaxed);
    return std::to_string(sum);
  };
  auto line = [&](const std::string& head, auto value) {
    return head + "accepted " + value(&Counters::accepted) + ", refused " +
           value(&Counters::refused) + ", timed out " + value(&Counters::timed_out) +
           ", protocol errors " + value(&Counters::protocol_errors) + ", " + frames_label_ + " " +
           value(&Counters::frames_echoed) + ", " + bytes_label_ + " " +
           value(&Counters::bytes_echoed) + ", open " + value(&Counters::open) +
           (config_.max_conns_per_ip > 0 ? ", refused per ip " + value(&Counters::refused_per_ip)
                                         : std::string());
  };
  // The JSON form carries each counter as a number, and the closes by
  // reason (the text line keeps its words, which scripts read).
  util::LogEvent event("counters");
  event.text("when", when);
  const auto number = [&](std::string_view key, std::atomic<std::uint64_t> Counters::*field) {
    std::uint64_t sum = 0;
    for (const auto& w : workers_) sum += (w->counters().*field).load(std::memory_order_relaxed);
    event.number(key, sum);
  };
  number("accepted", &Counters::accepted);
  number("refused", &Counters::refused);
  number("refused_per_ip", &Counters::refused_per_ip);
  number("timed_out", &Counters::timed_out);
  number("protocol_errors", &Counters::protocol_errors);
  number("frames_received", &Counters::frames_received);
  number("frames_sent", &Counters::frames_echoed);
  number("bytes_sent", &Counters::bytes_echoed);
  number("open", &Counters::open);
  for (std::size_t i = 0; i < core::kCloseReasons; ++i) {
    std::uint64_t sum = 0;
    for (const auto& w : workers_) sum += w->counters().closed[i].load(std::memory_order_relaxed);
    if (sum > 0) {
      std::string key = "closed_" + std::string(core::to_string(static_cast<core::CloseReason>(i)));
      std::replace(key.begin(), key.end(), '-', '_');
      event.number(key, sum);
    }
  }
  log(LogLevel::info, line(std::string("counters (") + when + "): ", total), event);
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

ServerCounters Runtime::counters() const noexcept {
  ServerCounters out;
  for (const auto& w : workers_) {
    const Counters& c = w->counters();
    out.accepted += c.accepted.load(std::memory_order_relaxed);
    out.refused += c.refused.load(std::memory_order_relaxed);
    out.refused_per_ip += c.refused_per_ip.load(std::memory_order_relaxed);
    out.timed_out += c.timed_out.load(std::memory_order_relaxed);
    out.protocol_errors += c.protocol_errors.load(std::memory_order_relaxed);
    out.frames_sent += c.frames_echoed.load(std::memory_order_relaxed);
    out.bytes_sent += c.bytes_echoed.load(std::memory_order_relaxed);
    out.open += c.open.load(std::memory_order_relaxed);
  }
  return out;
}

void Runtime::post_all(const std::function<void(Worker&)>& task) {
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([worker, task] { task(*worker); });
  }
}

bool Runtime::take_finished() {
  const std::uint64_t n = take_fd(done_.get());
  if (n > 0) {
    finished_ += n;
    // A worker that ended before any stop request failed (its loop could
    // not wait): a server with a dead worker would silently serve part of
    // its connections, so stop them all.
    bool failed = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!stopping_ && !aborted_ && !failed_) failed = failed_ = true;
    }
    if (failed) {
      log(LogLevel::error, "a worker failed; stopping every worker");
      post_all([](Worker& w) { w.request_exit(); });
    }
  }
  // Against the threads started: start() may have failed part-way.
  return finished_ >= threads_.size();
}

void Runtime::wait_acks(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto give_up = clock_.now() + limit;
  while (!done() && finished_ < workers_.size()) {
    const auto left = give_up - clock_.now();
    if (left <= loop::Duration::zero()) break;
    pollfd fds[2] = {{acks_.get(), POLLIN, 0}, {done_.get(), POLLIN, 0}};
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    if (::poll(fds, 2, static_cast<int>(ms)) < 0 && errno != EINTR) break;
    (void)take_fd(acks_.get());
    if ((fds[1].revents & POLLIN) != 0) (void)take_finished();
  }
}

void Runtime::wait_stop_acks(std::chrono::milliseconds limit) {
  wait_acks(
      [&] { return stop_acks_.load(std::memory_order_acquire) + finished_ >= workers_.size(); },
      limit);
}

void Runtime::report_counters(const char* when) {
  // Ask the workers first, so the report includes everything they had
  // done before the request (bounded, should a worker be busy).
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
  log_counters(when);
}

void Runtime::for_each_loop(const std::function<void(Loop&)>& f) {
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([worker, f] { worker->run_guarded("a posted task", [&] { f(*worker); }); });
  }
}

StopReport Runtime::wait() {
  if (joined_) return report_;
  while (!take_finished()) {
    pollfd fd{done_.get(), POLLIN, 0};
    if (::poll(&fd, 1, -1) < 0 && errno != EINTR) {
      log(LogLevel::error, net::SysError{"poll", errno}.message());
      abort();
      break;
    }
  }
  for (auto& t : threads_) t.join();
  joined_ = true;
  int code = 0;
  for (int s : status_) code = std::max(code, s);
  StopReport r;
  for (const auto& w : workers_) r.cut += w->cut();
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    r.aborted = aborted_;
    r.failed = failed_ || (code != 0 && !aborted_);
  }
  r.drained = !r.aborted && !r.failed && r.cut == 0;
  if (r.drained) {
    log(LogLevel::info, "shutdown complete: all connections closed");
  } else if (r.cut > 0 && !r.aborted && !r.failed) {
    log(LogLevel::warn, "shutdown complete: the drain cut " + std::to_string(r.cut) +
                            " connection(s) at its timeout");
  }
  log_counters("exit");
  report_ = r;
  return r;
}

}  // namespace framed::server
