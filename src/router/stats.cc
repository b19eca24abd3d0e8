#include "router/stats.h"

#include <utility>

namespace framed::router {

Stats::Stats(std::vector<std::string> backend_names, std::size_t workers)
    : names_(std::move(backend_names)) {
  for (std::size_t w = 0; w < workers; ++w) {
    workers_.push_back(std::make_unique<WorkerStats>(names_.size()));
  }
}

std::string Stats::render() const {
  std::string out;
  const auto load = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  const auto family = [&](const char* name, const char* type, const char* help,
                          std::atomic<std::uint64_t> BackendStats::*field) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (std::size_t b = 0; b < names_.size(); ++b) {
      std::uint64_t sum = 0;
      for (const auto& w : workers_) sum += load(w->backends[b].*field);
      // Backend names are HOST:PORT as given: no quote or backslash to escape.
      out += std::string(name) + "{backend=\"" + names_[b] + "\"} " + std::to_string(sum) + "\n";
    }
  };
  family("framed_router_backend_up", "gauge",
         "Workers that see the backend up (each worker keeps its own connections and health).",
         &BackendStats::up);
  family("framed_router_in_flight", "gauge", "Frames sent to the backend, replies awaited.",
         &BackendStats::in_flight);
  family("framed_router_frames_forwarded_total", "counter", "Frames sent to the backend.",
         &BackendStats::forwarded);
  family("framed_router_replies_total", "counter", "Replies the backend brought.",
         &BackendStats::replies);
  family("framed_router_backend_down_total", "counter",
         "Times a worker marked the backend down (refused, reset, closed or timed out).",
         &BackendStats::downs);
  family("framed_router_retried_total", "counter",
         "Frames in flight to the backend when it failed, sent again to another (--retry).",
         &BackendStats::retried);
  family("framed_router_failed_total", "counter",
         "Frames in flight to the backend when it failed, whose clients were closed.",
         &BackendStats::failed);
  std::uint64_t refused = 0;
  for (const auto& w : workers_) refused += load(w->refused_no_backend);
  out +=
      "# HELP framed_router_refused_no_backend_total Clients closed because no backend was up.\n"
      "# TYPE framed_router_refused_no_backend_total counter\n"
      "framed_router_refused_no_backend_total " +
      std::to_string(refused) + "\n";
  return out;
}

}  // namespace framed::router
