// The start both floors share (floor-epoll, floor-uring): read --port (other
// options are accepted and ignored, so framed-bench can pass the server's),
// ignore SIGPIPE, and listen on 127.0.0.1. Benchmark programs, not library
// code: they own their process.
#pragma once

#include <signal.h>

#include <cstdio>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "net/socket.h"

namespace framed::bench {

// Returns the listening socket, or an invalid one after printing
// "<name>: listen: <reason>" to stderr.
inline net::UniqueFd floor_listen(int argc, char** argv, const char* name) {
  std::uint16_t port = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0)
      port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
  }
  signal(SIGPIPE, SIG_IGN);
  std::vector<net::Endpoint> eps;
  std::string detail;
  net::UniqueFd listener;
  if (!net::resolve("127.0.0.1", port, true, eps, detail).ok() ||
      !net::listen_on(eps.front(), 4096, listener).ok()) {
    std::fprintf(stderr, "%s: listen: %s\n", name, std::strerror(errno));
    return {};
  }
  return listener;
}

// Prints "listening on ADDRESS", the line framed-bench waits for.
inline void floor_announce(int listener) {
  net::Endpoint bound;
  (void)net::local_endpoint(listener, bound);
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);
}

}  // namespace framed::bench
