// A server's listening sockets, made before any worker starts so that a
// bind error is one clear message: bound to host and port (one per worker,
// sharing the address with SO_REUSEPORT), or a socket passed in
// (options.listen_fd, shared by every worker).
#pragma once

#include <vector>

#include "framed/server.h"
#include "net/fd.h"
#include "net/socket.h"

namespace framed::server {

// Resolves config.host and binds one listener per worker on config.port
// (port 0: the first bind picks the port and the others join it). Returns
// why not ("cannot listen on 127.0.0.1 port 80: Permission denied").
Error bind_listeners(const ServerOptions& config, std::vector<net::UniqueFd>& listeners,
                     net::Endpoint& bound);

// Takes `fd`, a listening TCP socket passed in, for every worker: it is
// made non-blocking and duplicated once per further worker. Takes
// ownership of `fd` whatever the outcome. Returns why not.
Error adopt_listener(const ServerOptions& config, int fd, std::vector<net::UniqueFd>& listeners,
                     net::Endpoint& bound);

}  // namespace framed::server
