#include "transport/make.h"

#include "loop/poller.h"
#include "transport/readiness.h"
#include "transport/uring_transport.h"

namespace framed::transport {

std::unique_ptr<Transport> make_transport(const TransportOptions& options, Sink& sink,
                                          std::string& error) {
  if (options.backend == Backend::io_uring) {
    // Created here, disabled, so that every worker's ring exists (and any
    // failure is reported) before the first accept; enabled by start() on
    // the worker's own thread.
    loop::RingOptions ring_options = options.ring;
    ring_options.disabled = true;
    auto ring = loop::Ring::create(ring_options, error);
    if (!ring) return nullptr;
    auto t = std::make_unique<UringTransport>(std::move(ring), ring_options.buffers,
                                              ring_options.buffer_size, sink);
    if (const auto e = t->init(); !e.ok()) {
      error = e.message();
      return nullptr;
    }
    return t;
  }
  net::SysError e;
  auto poller = loop::make_poller(options.backend, e);
  if (!poller) {
    error = e.ok() ? std::string("no such backend") : e.message();
    return nullptr;
  }
  auto t = std::make_unique<ReadinessTransport>(std::move(poller), options.read_chunk, sink);
  if (e = t->init(); !e.ok()) {
    error = e.message();
    return nullptr;
  }
  return t;
}

}  // namespace framed::transport
