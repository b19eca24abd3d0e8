// framed::serve: the library's entry point. Fits the descriptor limit,
// creates and binds every listener (or adopts the one systemd passed) before
// any worker starts, and runs the workers until the drain completes.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <string>
#include <vector>

#include "framed/server.h"
#include "net/cidr.h"
#include "net/socket.h"
#include "server/server.h"
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
std::size_t fit_fd_limit(std::size_t max_conns, std::size_t workers) {
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
  log(LogLevel::warn, "--max-conns " + std::to_string(max_conns) +
                          " needs more file descriptors than RLIMIT_NOFILE allows (" +
                          std::to_string(lim.rlim_cur) + "); serving at most " +
                          std::to_string(fit) + " connections");
  return fit;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// Creates and binds one listener per worker on config.host:config.port.
// Every listener exists before any worker starts, so a bind error is one
// clear message. With several workers each gets its own SO_REUSEPORT socket
// on the address the first one bound (port 0 resolved to the real port).
bool bind_listeners(const ServerOptions& config, std::vector<net::UniqueFd>& listeners,
                    net::Endpoint& bound) {
  const char* name = config.name.c_str();
  std::vector<net::Endpoint> candidates;
  std::string detail;
  if (const auto e = net::resolve(config.host, config.port, true, candidates, detail); !e.ok()) {
    std::fprintf(stderr, "%s: cannot resolve '%s': %s\n", name, config.host.c_str(),
                 detail.c_str());
    return false;
  }
  const auto reuse_port = config.workers > 1 ? net::ReusePort::first : net::ReusePort::none;
  listeners.clear();
  listeners.emplace_back();
  net::SysError last;
  for (const auto& ep : candidates) {
    last = net::listen_on(ep, 1024, listeners[0], reuse_port);
    if (last.ok()) break;
  }
  if (!listeners[0]) {
    std::fprintf(stderr, "%s: cannot listen on %s port %u: %s\n", name, config.host.c_str(),
                 static_cast<unsigned>(config.port), last.message().c_str());
    return false;
  }
  if (const auto e = net::local_endpoint(listeners[0].get(), bound); !e.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, e.message().c_str());
    return false;
  }
  for (std::size_t i = 1; i < config.workers; ++i) {
    listeners.emplace_back();
    if (const auto e = net::listen_on(bound, 1024, listeners.back(), net::ReusePort::join);
        !e.ok()) {
      std::fprintf(stderr, "%s: cannot listen on %s for worker %zu: %s\n", name,
                   bound.to_string().c_str(), i, e.message().c_str());
      return false;
    }
  }
  return true;
}

// Takes the listening socket systemd passed (socket activation). Every
// worker gets its own descriptor for the one socket: the kernel's accept
// queue is shared, a connection wakes each idle worker's loop and one
// accept4() wins (the others get EAGAIN). SO_REUSEPORT is not an option
// here, since the socket was bound by the manager; and the manager keeps
// its own copy open, so connections arriving after our drain wait in the
// queue for the next instance instead of being refused.
bool adopt_listener(const ServerOptions& config, int fd, std::vector<net::UniqueFd>& listeners,
                    net::Endpoint& bound) {
  const char* name = config.name.c_str();
  listeners.clear();
  listeners.emplace_back(fd);
  if (const std::string why = server::systemd::check_listening_tcp(fd); !why.empty()) {
    std::fprintf(stderr, "%s: socket activation: %s\n", name, why.c_str());
    return false;
  }
  // The workers' loops rely on accept4() returning EAGAIN once the queue is
  // empty; a manager passes sockets blocking unless told otherwise, and a
  // worker blocked in accept4() would never see its stop request.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    std::fprintf(stderr, "%s: socket activation: %s\n", name,
                 net::SysError{"fcntl O_NONBLOCK", errno}.message().c_str());
    return false;
  }
  if (const auto e = net::local_endpoint(fd, bound); !e.ok()) {
    std::fprintf(stderr, "%s: socket activation: %s\n", name, e.message().c_str());
    return false;
  }
  for (std::size_t i = 1; i < config.workers; ++i) {
    listeners.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!listeners.back()) {
      std::fprintf(stderr, "%s: socket activation: %s\n", name,
                   net::SysError{"fcntl F_DUPFD_CLOEXEC", errno}.message().c_str());
      return false;
    }
  }
  log(LogLevel::info, "socket activation: using the inherited listening socket (descriptor " +
                          std::to_string(fd) + ") on " + bound.to_string() + ", shared by " +
                          std::to_string(config.workers) +
                          " worker(s); --host and --port are ignored");
  return true;
}

}  // namespace

int serve(const ServerOptions& options, const HandlerFactory& make_handler) {
  ServerOptions config = options;
  if (config.workers == 0) config.workers = 1;
  util::set_log_level(config.log_level);
  const char* name = config.name.c_str();
  if (config.proxy_protocol) {
    std::vector<net::Cidr> ranges;
    std::string bad;
    if (!net::parse_cidrs(config.proxy_from, ranges, bad) || ranges.empty()) {
      std::fprintf(stderr, "%s: bad proxy_from range '%s'\n", name, bad.c_str());
      return 1;
    }
  }
  config.max_conns = fit_fd_limit(config.max_conns, config.workers);
  if (const int rc = server::resolve_backend(config); rc != 0) return rc;

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

  std::vector<net::UniqueFd> listeners;
  net::Endpoint bound;
  const bool ok = inherited.count == 1 ? adopt_listener(config, inherited.first, listeners, bound)
                                       : bind_listeners(config, listeners, bound);
  if (!ok) return 1;

  server::Server server(config, std::move(listeners), make_handler, loop::system_clock(),
                        inherited.count == 1);
  if (std::string error; !server.prepare(error)) {
    std::fprintf(stderr, "%s: %s\n", name, error.c_str());
    return 1;
  }
  const std::string proxy_note =
      config.proxy_protocol ? ", PROXY protocol from " + join(config.proxy_from) + " within " +
                                  std::to_string(config.proxy_timeout.count()) + "ms"
                            : std::string();
  log(LogLevel::info, config.name + " on " + bound.to_string() + ": backend " +
                          std::string(loop::to_string(config.backend)) + ", workers " +
                          std::to_string(config.workers) + ", max-conns " +
                          std::to_string(config.max_conns) + ", max-frame " +
                          std::to_string(config.max_frame) + " bytes" + proxy_note);
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);
  // The listen queue already takes connections, so a unit ordered after
  // this one may start now.
  if (const auto e = notifier.send("READY=1\nSTATUS=listening on " + bound.to_string()); !e.ok()) {
    log(LogLevel::warn, "cannot notify systemd: " + e.message());
  }
  server.set_notifier(notifier);
  return server.run();
}

}  // namespace framed
