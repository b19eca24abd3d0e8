// Makes the transport a backend name asks for: the one place that knows
// which kinds of I/O exist.
#pragma once

#include <memory>
#include <string>

#include "framed/server.h"
#include "loop/uring.h"
#include "transport/transport.h"

namespace framed::transport {

struct TransportOptions {
  Backend backend = Backend::epoll;     // poll, epoll or io_uring (not automatic).
  std::size_t read_chunk = 64U << 10U;  // Bytes per read; io_uring: per buffer.
  loop::RingOptions ring;               // io_uring only; created disabled.
};

// The transport for `options.backend`, reporting to `sink`, with its
// wake-up descriptor created; null with `error` set ("epoll_create1: Too
// many open files") when it cannot be made.
std::unique_ptr<Transport> make_transport(const TransportOptions& options, Sink& sink,
                                          std::string& error);

}  // namespace framed::transport
