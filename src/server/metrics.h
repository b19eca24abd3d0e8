// What the metrics endpoint serves: the server's metrics in the Prometheus
// text format, summed from every worker's own counters at the moment of
// the scrape (relaxed loads: the workers write theirs without a shared
// cache line or a lock, and the scrape costs them nothing).
#pragma once

#include <string>

#include "server/runtime.h"

namespace framed::server {

// Every metric of `runtime`, in the text exposition format 0.0.4. Any
// thread.
std::string render_metrics(const Runtime& runtime);

// The service's own families (ServerOptions::metrics_extra), or empty. One
// that throws is logged, and the scrape goes on without them.
std::string extra_metrics(const ServerOptions& options);

}  // namespace framed::server
