// framed::Server's insides, for the library's own program-level code
// (serve.cc), which drives the runtime's stop and reports directly.
#pragma once

#include <memory>
#include <mutex>

#include "framed/server.h"
#include "net/socket.h"
#include "ops/metrics_http.h"
#include "server/runtime.h"

namespace framed {

struct Server::Impl {
  ServerOptions options;
  HandlerFactory make_handler;
  std::mutex mutex;  // Guards `runtime` against stop()/abort() from other threads.
  std::unique_ptr<server::Runtime> runtime;
  net::Endpoint bound;
  // The metrics endpoint (options.metrics), stopped by wait(); declared
  // after `runtime`, which its thread reads, so destroyed before it.
  ops::HttpStats metrics_stats;  // Outlives `metrics`, which counts into it.
  std::unique_ptr<ops::MetricsHttp> metrics;
  net::Endpoint metrics_bound;
  bool started = false;  // start() was called (successfully or not).
  // How the counters lines name what was written (serve() sets its own).
  std::string frames_label = "frames sent";
  std::string bytes_label = "bytes sent";
};

namespace server {

// The runtime of a started server; null before start() or after it failed.
inline Runtime* runtime_of(framed::Server::Impl& impl) noexcept { return impl.runtime.get(); }

}  // namespace server
}  // namespace framed
