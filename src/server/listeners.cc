#include "server/listeners.h"

#include <fcntl.h>

#include <cerrno>
#include <string>

#include "server/systemd.h"

namespace framed::server {

Error bind_listeners(const ServerOptions& config, std::vector<net::UniqueFd>& listeners,
                     net::Endpoint& bound) {
  std::vector<net::Endpoint> candidates;
  std::string detail;
  if (const auto e = net::resolve(config.host, config.port, true, candidates, detail); !e.ok()) {
    return {"cannot resolve '" + config.host + "': " + detail};
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
    return {"cannot listen on " + config.host + " port " + std::to_string(config.port) + ": " +
            last.message()};
  }
  if (const auto e = net::local_endpoint(listeners[0].get(), bound); !e.ok()) {
    return {e.message()};
  }
  for (std::size_t i = 1; i < config.workers; ++i) {
    listeners.emplace_back();
    if (const auto e = net::listen_on(bound, 1024, listeners.back(), net::ReusePort::join);
        !e.ok()) {
      return {"cannot listen on " + bound.to_string() + " for worker " + std::to_string(i) + ": " +
              e.message()};
    }
  }
  return {};
}

// Every worker gets its own descriptor for the one socket: the kernel's
// accept queue is shared, a connection wakes each idle worker's loop and
// one accept4() wins (the others get EAGAIN). SO_REUSEPORT is not an option
// here, since the socket was bound by someone else; and that owner (a
// service manager) may keep its own copy open, so connections arriving
// after our drain wait in the queue for the next instance instead of
// being refused.
Error adopt_listener(const ServerOptions& config, int fd, std::vector<net::UniqueFd>& listeners,
                     net::Endpoint& bound) {
  listeners.clear();
  listeners.emplace_back(fd);
  if (const std::string why = systemd::check_listening_tcp(fd); !why.empty()) {
    return {"listening socket " + std::to_string(fd) + ": " + why};
  }
  // The workers' loops rely on accept4() returning EAGAIN once the queue is
  // empty; a manager passes sockets blocking unless told otherwise, and a
  // worker blocked in accept4() would never see its stop request.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return {net::SysError{"fcntl O_NONBLOCK", errno}.message()};
  }
  if (const auto e = net::local_endpoint(fd, bound); !e.ok()) return {e.message()};
  for (std::size_t i = 1; i < config.workers; ++i) {
    listeners.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!listeners.back()) return {net::SysError{"fcntl F_DUPFD_CLOEXEC", errno}.message()};
  }
  return {};
}

}  // namespace framed::server
