// framed-server: parses the command line and wires the parts together.
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <vector>

#include "net/socket.h"
#include "server/config.h"
#include "server/server.h"
#include "util/log.h"

namespace {

using framed::util::log;
using framed::util::LogLevel;

// Descriptors the server needs besides connections: stdio, listener, signal
// pipe, the spare kept for EMFILE, and one for an accept-and-close refusal.
constexpr std::size_t kReservedFds = 16;

// Makes room for max_conns descriptors: raises the soft RLIMIT_NOFILE up to
// the hard limit if needed, otherwise lowers the effective connection limit.
std::size_t fit_fd_limit(std::size_t max_conns) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return max_conns;
  const rlim_t need = max_conns + kReservedFds;
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
      lim.rlim_cur > kReservedFds + 1 ? static_cast<std::size_t>(lim.rlim_cur) - kReservedFds : 1;
  log(LogLevel::warn, "--max-conns " + std::to_string(max_conns) +
                          " needs more file descriptors than RLIMIT_NOFILE allows (" +
                          std::to_string(lim.rlim_cur) + "); serving at most " +
                          std::to_string(fit) + " connections");
  return fit;
}

}  // namespace

int main(int argc, char** argv) {
  framed::server::Config config;
  std::string message;
  switch (framed::server::parse_args(argc, argv, config, message)) {
    case framed::server::ParseOutcome::help:
      std::fputs(framed::server::usage().c_str(), stdout);
      return 0;
    case framed::server::ParseOutcome::error:
      std::fprintf(stderr, "framed-server: %s\n\n%s", message.c_str(),
                   framed::server::usage().c_str());
      return 2;
    case framed::server::ParseOutcome::run: break;
  }
  framed::util::set_log_level(config.log_level);
  config.max_conns = fit_fd_limit(config.max_conns);

  std::vector<framed::net::Endpoint> candidates;
  std::string detail;
  if (const auto e = framed::net::resolve(config.host, config.port, true, candidates, detail);
      !e.ok()) {
    std::fprintf(stderr, "framed-server: cannot resolve '%s': %s\n", config.host.c_str(),
                 detail.c_str());
    return 1;
  }
  // Every listener is created and bound here, before any worker starts, so
  // a bind error is one clear message. With several workers each gets its
  // own SO_REUSEPORT socket on the address the first one bound (port 0
  // resolved to the real port).
  const bool reuse_port = config.workers > 1;
  std::vector<framed::net::UniqueFd> listeners(1);
  framed::net::SysError last;
  for (const auto& ep : candidates) {
    last = framed::net::listen_on(ep, 1024, listeners[0], reuse_port);
    if (last.ok()) break;
  }
  if (!listeners[0]) {
    std::fprintf(stderr, "framed-server: cannot listen on %s port %u: %s\n", config.host.c_str(),
                 static_cast<unsigned>(config.port), last.message().c_str());
    return 1;
  }
  framed::net::Endpoint bound;
  if (const auto e = framed::net::local_endpoint(listeners[0].get(), bound); !e.ok()) {
    std::fprintf(stderr, "framed-server: %s\n", e.message().c_str());
    return 1;
  }
  for (std::size_t i = 1; i < config.workers; ++i) {
    listeners.emplace_back();
    if (const auto e = framed::net::listen_on(bound, 1024, listeners.back(), true); !e.ok()) {
      std::fprintf(stderr, "framed-server: cannot listen on %s for worker %zu: %s\n",
                   bound.to_string().c_str(), i, e.message().c_str());
      return 1;
    }
  }

  framed::server::Server server(config, std::move(listeners));
  if (std::string error; !server.prepare(error)) {
    std::fprintf(stderr, "framed-server: %s\n", error.c_str());
    return 1;
  }
  log(LogLevel::info, "framed-server on " + bound.to_string() + ": backend " +
                          std::string(framed::loop::to_string(config.backend)) + ", workers " +
                          std::to_string(config.workers) + ", max-conns " +
                          std::to_string(config.max_conns) + ", max-frame " +
                          std::to_string(config.max_frame) + " bytes");
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);
  return server.run();
}
