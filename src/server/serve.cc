// framed::serve: the library's entry point. Fits the descriptor limit,
// creates and binds every listener before any worker starts, and runs the
// workers until the drain completes.
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <vector>

#include "framed/server.h"
#include "net/cidr.h"
#include "net/socket.h"
#include "server/server.h"
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

  std::vector<net::Endpoint> candidates;
  std::string detail;
  if (const auto e = net::resolve(config.host, config.port, true, candidates, detail); !e.ok()) {
    std::fprintf(stderr, "%s: cannot resolve '%s': %s\n", name, config.host.c_str(),
                 detail.c_str());
    return 1;
  }
  // Every listener is created and bound here, before any worker starts, so
  // a bind error is one clear message. With several workers each gets its
  // own SO_REUSEPORT socket on the address the first one bound (port 0
  // resolved to the real port).
  const bool reuse_port = config.workers > 1;
  std::vector<net::UniqueFd> listeners(1);
  net::SysError last;
  for (const auto& ep : candidates) {
    last = net::listen_on(ep, 1024, listeners[0], reuse_port);
    if (last.ok()) break;
  }
  if (!listeners[0]) {
    std::fprintf(stderr, "%s: cannot listen on %s port %u: %s\n", name, config.host.c_str(),
                 static_cast<unsigned>(config.port), last.message().c_str());
    return 1;
  }
  net::Endpoint bound;
  if (const auto e = net::local_endpoint(listeners[0].get(), bound); !e.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, e.message().c_str());
    return 1;
  }
  for (std::size_t i = 1; i < config.workers; ++i) {
    listeners.emplace_back();
    if (const auto e = net::listen_on(bound, 1024, listeners.back(), true); !e.ok()) {
      std::fprintf(stderr, "%s: cannot listen on %s for worker %zu: %s\n", name,
                   bound.to_string().c_str(), i, e.message().c_str());
      return 1;
    }
  }

  server::Server server(config, std::move(listeners), make_handler);
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
  return server.run();
}

}  // namespace framed
