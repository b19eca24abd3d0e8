// framed-server's process: N workers (threads, each with its own event loop
// and connections), the listeners they accept on, and the signals, taken in
// one place (the calling thread) and passed on to every worker as tasks
// posted to its loop.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "core/conn_limit.h"
#include "loop/clock.h"
#include "loop/uring.h"
#include "net/fd.h"
#include "server/config.h"
#include "server/signals.h"
#include "server/systemd.h"
#include "server/worker.h"

namespace framed::server {

// The ring every io_uring worker gets: the configured provided buffers, and
// a completion queue sized to what can be outstanding at once (per
// connection a send, a receive's last completion and a cancel; a
// completion per buffer), so it does not overflow in practice.
loop::RingOptions ring_options(const Config& config);

// Settles config.backend before anything starts. io_uring: probes it;
// returns 2 (not built) or 1 (refused here) after a message on stderr that
// names the reason. automatic: becomes epoll (the measured choice; see
// the README). Returns 0 otherwise.
int resolve_backend(Config& config);

class Server {
 public:
  // `listeners` holds one non-blocking listening socket per worker (all
  // bound to the same address with SO_REUSEPORT when there are several).
  // `config.max_conns` is the effective global limit. Time is read from
  // `clock` (not owned).
  // `inherited` when systemd passed the listening socket (socket
  // activation): the stop then leaves it to the next instance.
  Server(const Config& config, std::vector<net::UniqueFd> listeners, HandlerFactory make_handler,
         loop::Clock& clock, bool inherited = false);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Blocks the signals in this thread (so in every worker started later),
  // creates each worker's transport and registers its descriptors. Returns
  // false with `error` set ("epoll_create1: ...") on failure.
  bool prepare(std::string& error);

  // Starts the workers, serves signals until every worker has finished, and
  // returns the exit status: 0 after a drain (even a forced one), 1 after a
  // second signal or a worker's fatal error.
  int run();

  // Where run() reports the drain (STOPPING=1) to systemd; empty by default.
  void set_notifier(const systemd::Notifier& notifier) { notifier_ = notifier; }

 private:
  void log_counters(const char* when) const;
  // Posts `task` to every worker (on its thread).
  void post_all(const std::function<void(Worker&)>& task);
  // Takes the workers' end notices; a worker that ends before any stop
  // request failed, and stops the others.
  void take_finished();
  // Waits (polling the acknowledgement eventfd, at most `limit`) until
  // `done()` holds or every worker has finished.
  void wait_acks(const std::function<bool()>& done, std::chrono::milliseconds limit);
  void request_exit();

  const Config config_;
  loop::Clock& clock_;
  core::ConnLimit limit_;
  HandlerFactory make_handler_;
  std::vector<net::UniqueFd> listeners_;
  bool inherited_;
  std::vector<std::unique_ptr<Worker>> workers_;
  SignalSource signals_;
  net::UniqueFd done_;  // eventfd: each worker adds 1 when it returns.
  net::UniqueFd acks_;  // eventfd: a worker adds 1 when it acknowledges a request.
  std::atomic<std::size_t> stop_acks_{0};
  std::vector<std::unique_ptr<std::atomic<std::uint64_t>>> report_acks_;  // Per worker.
  std::uint64_t reports_ = 0;
  std::size_t finished_ = 0;
  bool stopping_ = false;
  bool exiting_ = false;
  systemd::Notifier notifier_;
};

}  // namespace framed::server
