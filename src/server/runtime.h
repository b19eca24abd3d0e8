// A server's workers at run time: N workers (threads, each with its own
// event loop and connections) over the listeners they accept on, started,
// stopped from any thread, and waited for. framed::Server (server.cc) and
// framed::serve (serve.cc) are built on it; it owns nothing of the process
// (signals, stdout, rlimits and the environment are serve()'s).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/conn_limit.h"
#include "loop/clock.h"
#include "loop/uring.h"
#include "net/fd.h"
#include "server/worker.h"

namespace framed::tls {
class ContextSlot;
}  // namespace framed::tls

namespace framed::server {

// The ring every io_uring worker gets: the configured provided buffers, and
// a completion queue sized to what can be outstanding at once (per
// connection a send, a receive's last completion and a cancel; a
// completion per buffer), so it does not overflow in practice.
loop::RingOptions ring_options(const ServerOptions& config);

// Settles config.backend before anything starts. io_uring: probes it;
// returns an error that names the reason when it was not built or is
// refused here. automatic: becomes epoll (the measured choice; see the
// README). Returns an empty error otherwise.
Error resolve_backend(ServerOptions& config);

class Runtime {
 public:
  // `listeners` holds one non-blocking listening socket per worker (all
  // bound to the same address with SO_REUSEPORT when there are several).
  // `config.max_conns` is the effective global limit. Time is read from
  // `clock` (not owned). `inherited` when the listening socket was passed
  // in (options.listen_fd): the stop then leaves it to a next owner.
  Runtime(const ServerOptions& config, std::vector<net::UniqueFd> listeners,
          HandlerFactory make_handler, loop::Clock& clock, bool inherited);
  // Aborts and joins workers still running.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Creates each worker, its handler and its transport, and registers its
  // descriptors. Returns why not ("epoll_create1: ...").
  Error prepare();
  // Starts the workers' threads, with every signal blocked in them (the
  // process's signals are the program's, never a worker's).
  Error start();

  // Any thread: begins the drain, due to end `drain_timeout` from now
  // (spec/PROTOCOL.md §6.7). A later call may bring the end nearer. Returns
  // true for the first call.
  bool stop(std::chrono::milliseconds drain_timeout);
  // Any thread: every worker closes every connection and returns.
  void abort();
  [[nodiscard]] bool stopping() const noexcept;
  // Any thread: reads the TLS files again; connections accepted from now
  // on use them. Returns why not (the files in use stay in use).
  Error reload_tls();

  // The waiting thread (serve()'s or wait()'s): readable when a worker has
  // finished; take_finished() then returns true once every worker has.
  [[nodiscard]] int finished_fd() const noexcept { return done_.get(); }
  bool take_finished();
  // The waiting thread: blocks (polling the acknowledgement eventfd, at
  // most `limit`) until every worker has acknowledged the stop or finished.
  void wait_stop_acks(std::chrono::milliseconds limit);
  // The waiting thread: asks every worker for its counters (bounded, should
  // one be busy), then logs their sum, "counters (`when`): accepted ...".
  void report_counters(const char* when);
  // Blocks until every worker has finished, joins them, and returns how
  // the run ended. Once only; later calls return the same report.
  StopReport wait();

  // Any thread: runs `f` on every worker's loop (Server::for_each_loop).
  void for_each_loop(const std::function<void(Loop&)>& f);

  [[nodiscard]] std::size_t open() const noexcept { return limit_.open(); }
  // Any thread: the workers' counters, summed.
  [[nodiscard]] ServerCounters counters() const noexcept;
  // How the counters lines name the frames and bytes written (before start()).
  void set_labels(std::string frames, std::string bytes) {
    frames_label_ = std::move(frames);
    bytes_label_ = std::move(bytes);
  }
  [[nodiscard]] std::size_t workers() const noexcept { return workers_.size(); }
  // Any thread: each worker's own counters (read with relaxed loads; only
  // the worker writes them).
  template <class F>
  void for_each_counters(F&& f) const {
    for (const auto& w : workers_) f(w->worker_index(), w->counters());
  }
  // Any thread: each worker's busy time (Worker::busy_ns()).
  template <class F>
  void for_each_busy(F&& f) const {
    for (const auto& w : workers_) f(w->worker_index(), w->busy_ns());
  }
  [[nodiscard]] const ServerOptions& config() const noexcept { return config_; }

 private:
  void log_counters(const char* when) const;
  // Posts `task` to every worker (on its thread).
  void post_all(const std::function<void(Worker&)>& task);
  // Waits (polling the acknowledgement eventfd, at most `limit`) until
  // `done()` holds or every worker has finished.
  void wait_acks(const std::function<bool()>& done, std::chrono::milliseconds limit);

  const ServerOptions config_;
  std::shared_ptr<tls::ContextSlot> tls_;  // TLS on: every worker's layer shares it.
  loop::Clock& clock_;
  core::ConnLimit limit_;
  HandlerFactory make_handler_;
  std::vector<net::UniqueFd> listeners_;
  bool inherited_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<int> status_;
  net::UniqueFd done_;  // eventfd: each worker adds 1 when it returns.
  net::UniqueFd acks_;  // eventfd: a worker adds 1 when it acknowledges a request.
  std::atomic<std::size_t> stop_acks_{0};
  std::vector<std::unique_ptr<std::atomic<std::uint64_t>>> report_acks_;  // Per worker.
  std::uint64_t reports_ = 0;
  std::size_t finished_ = 0;  // The waiting thread's.
  mutable std::mutex mutex_;  // Guards the stop state below.
  bool stopping_ = false;
  bool aborted_ = false;
  bool failed_ = false;
  loop::TimePoint stop_deadline_ = loop::TimePoint::max();
  bool joined_ = false;
  std::string frames_label_ = "frames sent";
  std::string bytes_label_ = "bytes sent";
  StopReport report_;
};

}  // namespace framed::server
