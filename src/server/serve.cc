// framed::serve: the program-level wrapper on framed::Server. Everything
// of the process lives here and nowhere else in the library: the
// descriptor limit, systemd's variables, the signals, stdout.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "framed/server.h"
#include "server/runtime.h"
#include "server/server_impl.h"
#include "server/signals.h"
#include "server/systemd.h"
#include "util/log.h"

namespace framed {
namespace {

using util::log;
using util::LogLevel;

// Descriptors the server needs besides connections: stdio, listeners,
// signalfd, eventfds, epoll, the spare kept for EMFILE, and one for an
// accept-and-close refusal.
constexpr std::size_t kReservedFds = 16;

// Makes room for max_conns descriptors: raises the soft RLIMIT_NOFILE up to
// the hard limit if needed, otherwise lowers the effective connection limit.
// The cut comes out of the clients' share: the `outbound` slots
// (ServerOptions::outbound_reserve) are kept, so the result may be no more
// than `outbound` when the limit leaves no room for a client.
std::size_t fit_fd_limit(std::size_t max_conns, std::size_t workers, std::size_t outbound) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return max_conns;
  // Each worker beyond the first adds a listener, an epoll, an eventfd
  // and a spare.
  const rlim_t reserved = kReservedFds + 4 * (workers - 1);
  const rlim_t need = max_conns + reserved;
  if (lim.rlim_cur >= need) return max_conns;
  const rlim_t old_soft = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? need : std::min<rlim_t>(need, lim.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) lim.rlim_cur = old_soft;
  if (lim.rlim_cur >= need) {
    log(LogLevel::info, "raised RLIMIT_NOFILE from " + std::to_string(old_soft) + " to " +
                            std::to_string(lim.rlim_cur) + " for --max-conns " +
                            std::to_string(max_conns));
    return max_conns;
  }
  const std::size_t fit =
      lim.rlim_cur > reserved + 1 ? static_cast<std::size_t>(lim.rlim_cur - reserved) : 1;
  if (fit <= outbound) return fit;  // serve() says why it cannot start.
  // Said in the clients' terms: --max-conns counts them, not the reserve.
  log(LogLevel::warn,
      "--max-conns " + std::to_string(max_conns - outbound) +
          " needs more file descriptors than RLIMIT_NOFILE allows (" +
          std::to_string(lim.rlim_cur) + "); serving at most " + std::to_string(fit - outbound) +
          (outbound > 0 ? " client connections (and " + std::to_string(outbound) + " outbound)"
                        : " connections"));
  return fit;
}

}  // namespace

int serve(const ServerOptions& options, const HandlerFactory& make_handler) {
  return serve(options, make_handler, ServeOptions{});
}

int serve(const ServerOptions& options, const HandlerFactory& make_handler,
          const ServeOptions& program) {
  ServerOptions config = options;
  util::set_log_level(config.log_level);
  util::set_log_format(config.log_format);
  const char* name = config.name.c_str();
  const bool quiet = config.log_level == LogLevel::off;
  if (config.backend == Backend::io_uring && !loop::uring_built()) {
    std::string why;
    (void)loop::Ring::create(server::ring_options(config), why);
    std::fprintf(stderr, "%s: --backend io_uring: %s\n", name, why.c_str());
    return 2;
  }
  if (config.workers > 0 && config.outbound_reserve < config.max_conns) {
    config.max_conns = fit_fd_limit(config.max_conns, config.workers, config.outbound_reserve);
    if (config.max_conns <= config.outbound_reserve) {
      std::fprintf(stderr,
                   "%s: RLIMIT_NOFILE leaves room for %zu connection(s), no more than the %zu "
                   "kept for outbound connections; raise it (ulimit -n)\n",
                   name, config.max_conns, config.outbound_reserve);
      return 1;
    }
  }

  // The variables are read once and removed, as sd_listen_fds(3) and
  // sd_notify(3) do with unset_environment, so nothing we start inherits them.
  server::systemd::ListenFds inherited;
  server::systemd::Notifier notifier;
  if (config.systemd) {
    inherited = server::systemd::listen_fds(true, ::getpid());
    std::string notify_error;
    notifier = server::systemd::Notifier::from_environment(true, notify_error);
    if (!notify_error.empty()) log(LogLevel::warn, notify_error + "; not notifying systemd");
  }
  if (!inherited.ok()) {
    std::fprintf(stderr, "%s: socket activation: %s\n", name, inherited.error.c_str());
    return 1;
  }
  if (inherited.count > 1) {
    // Several sockets would need a worker per socket or a listener set per
    // worker; one ListenStream= is what framed-server.socket declares.
    std::fprintf(stderr, "%s: socket activation passed %d sockets; expected one\n", name,
                 inherited.count);
    return 1;
  }
  if (inherited.count == 1) config.listen_fd = inherited.first;

  // Before the workers exist, so that a signal during the start is taken.
  server::SignalSource signals;
  if (const auto e = signals.open(); !e.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, e.message().c_str());
    return 1;
  }
  Server server(config, make_handler);
  server_impl(server).frames_label = program.frames_label;
  server_impl(server).bytes_label = program.bytes_label;
  if (Error e = server.start()) {
    std::fprintf(stderr, "%s: %s%s\n", name, inherited.count == 1 ? "socket activation: " : "",
                 e.message.c_str());
    return 1;
  }
  const std::string address = server.addresses().front();
  if (inherited.count == 1) {
    log(LogLevel::info, "socket activation: using the inherited listening socket (descriptor " +
                            std::to_string(inherited.first) + ") on " + address + ", shared by " +
                            std::to_string(config.workers) +
                            " worker(s); --host and --port are not used");
  }
  if (!quiet) {
    std::printf("listening on %s\n", address.c_str());
    std::fflush(stdout);
  }
  // The listen queue already takes connections, so a unit ordered after
  // this one may start now.
  if (const auto e = notifier.send("READY=1\nSTATUS=listening on " + address); !e.ok()) {
    log(LogLevel::warn, "cannot notify systemd: " + e.message());
  }

  server::Runtime& runtime = *server::runtime_of(server_impl(server));
  bool second_signal = false;
  std::size_t open_at_exit = 0;
  while (!runtime.take_finished()) {
    pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {runtime.finished_fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log(LogLevel::error, net::SysError{"poll", errno}.message());
      server.abort();
      break;
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    const server::SignalCounts got = signals.take();
    const server::SignalPlan plan = server::plan_for(got, runtime.stopping());
    if (plan.report) runtime.report_counters("SIGUSR1");
    if (plan.reload) {
      if (!config.tls.enabled()) {
        log(LogLevel::info, "SIGHUP: no TLS certificate to reload (TLS is off)");
      } else if (Error e = server.reload_tls()) {
        log(LogLevel::warn,
            "SIGHUP: TLS reload failed, the certificate in use stays: " + e.message);
      } else {
        log(LogLevel::info, "SIGHUP: TLS certificate and key reloaded from " +
                                config.tls.cert_file + " and " + config.tls.key_file +
                                " for new connections");
      }
    }
    if (plan.drain) {
      log(LogLevel::info,
          got.interrupt > 0 && got.terminate > 0
              ? "received SIGINT and SIGTERM together: one request to stop"
              : std::string("received ") + (got.interrupt > 0 ? "SIGINT" : "SIGTERM"));
      (void)runtime.stop(config.drain_timeout);
      // Say it once it is true: every worker has closed its listener and
      // begun its drain (bounded, should a worker be stuck).
      runtime.wait_stop_acks(std::chrono::seconds(2));
      const std::string draining = "draining " + std::to_string(runtime.open()) +
                                   " connection(s) within " +
                                   std::to_string(config.drain_timeout.count()) + "ms";
      log(LogLevel::info, "shutting down: listener closed, " + draining,
          util::LogEvent("draining")
              .number("open", runtime.open())
              .number("drain_timeout_ms",
                      static_cast<std::uint64_t>(config.drain_timeout.count())));
      // systemd shows the unit as deactivating from here on, and knows the
      // exit that follows is the drain ending rather than a crash.
      if (const auto e = notifier.send("STOPPING=1\nSTATUS=" + draining); !e.ok()) {
        log(LogLevel::warn, "cannot notify systemd: " + e.message());
      }
    }
    if (plan.exit_now && !second_signal) {
      // A stop signal during the drain means: stop now.
      second_signal = true;
      open_at_exit = runtime.open();
      server.abort();
    }
  }
  const StopReport report = server.wait();
  if (second_signal) {
    log(LogLevel::warn, "second signal: exited at once with " + std::to_string(open_at_exit) +
                            " connection(s) open");
    return 1;
  }
  return report.failed || report.aborted ? 1 : 0;
}

}  // namespace framed
