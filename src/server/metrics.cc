#include "server/metrics.h"

#include <array>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "framed/version.h"
#include "loop/poller.h"
#include "ops/exposition.h"
#include "util/log.h"

namespace framed::server {
namespace {

using core::Counters;

std::uint64_t load(const std::atomic<std::uint64_t>& a) noexcept {
  return a.load(std::memory_order_relaxed);
}

}  // namespace

std::string render_metrics(const Runtime& runtime) {
  const ServerOptions& config = runtime.config();
  // Sums over the workers, taken once.
  Counters sum;
  const auto add = [](std::atomic<std::uint64_t>& to, const std::atomic<std::uint64_t>& from) {
    to.store(to.load(std::memory_order_relaxed) + load(from), std::memory_order_relaxed);
  };
  // Each worker's frames, from the same loads as the sums (a scrape's
  // per-worker series add up to its total).
  std::vector<std::pair<std::size_t, std::uint64_t>> worker_frames;
  runtime.for_each_counters([&](std::size_t index, const Counters& c) {
    worker_frames.emplace_back(index, load(c.frames_received));
    sum.frames_received.store(
        sum.frames_received.load(std::memory_order_relaxed) + worker_frames.back().second,
        std::memory_order_relaxed);
    add(sum.accepted, c.accepted);
    add(sum.refused, c.refused);
    add(sum.refused_max_conns, c.refused_max_conns);
    add(sum.refused_shed, c.refused_shed);
    add(sum.refused_proxy, c.refused_proxy);
    add(sum.refused_per_ip, c.refused_per_ip);
    add(sum.refused_tls, c.refused_tls);
    add(sum.bytes_received, c.bytes_received);
    add(sum.timed_out, c.timed_out);
    add(sum.protocol_errors, c.protocol_errors);
    add(sum.frames_echoed, c.frames_echoed);
    add(sum.bytes_echoed, c.bytes_echoed);
    add(sum.open, c.open);
    add(sum.pending_bytes, c.pending_bytes);
    add(sum.payload_bytes_received, c.payload_bytes_received);
    for (std::size_t i = 0; i < c.frame_sizes.size(); ++i) {
      add(sum.frame_sizes[i], c.frame_sizes[i]);
    }
    for (std::size_t i = 0; i < c.closed.size(); ++i) add(sum.closed[i], c.closed[i]);
    for (std::size_t i = 0; i < c.latency.size(); ++i) add(sum.latency[i], c.latency[i]);
    add(sum.latency_sum_ns, c.latency_sum_ns);
  });

  ops::Exposition x;
  x.family("framed_build_info", "gauge",
           "Always 1: the version and event backend of this framed-server.");
  x.sample("framed_build_info",
           {{"version", FRAMED_VERSION},
            {"backend", loop::to_string(config.backend)},
            {"tls", config.tls.enabled() ? "on" : "off"}},
           std::uint64_t{1});
  x.family("framed_workers", "gauge", "Worker threads, each with its own event loop.");
  x.sample("framed_workers", {}, static_cast<std::uint64_t>(runtime.workers()));
  x.family("framed_draining", "gauge", "1 once the drain (SIGINT, SIGTERM, stop()) has begun.");
  x.sample("framed_draining", {}, std::uint64_t{runtime.stopping() ? 1U : 0U});

  x.family("framed_connections_open", "gauge", "Connections open now.");
  x.sample("framed_connections_open", {}, load(sum.open));
  x.family("framed_pending_output_bytes", "gauge",
           "Output owed to peers (written by the handlers, not yet taken by the kernel).");
  x.sample("framed_pending_output_bytes", {}, load(sum.pending_bytes));
  // In --max-conns' terms: the slots kept for outbound connections
  // (ServerOptions::outbound_reserve) are not the clients'.
  x.family("framed_connections_max", "gauge", "The --max-conns limit.");
  x.sample("framed_connections_max", {},
           static_cast<std::uint64_t>(config.max_conns - config.outbound_reserve));
  x.family("framed_connections_accepted_total", "counter",
           "Connections accepted past the limits checked at the accept (those refused later, "
           "after a PROXY header or by the TLS handshake, are in refused_total as well).");
  x.sample("framed_connections_accepted_total", {}, load(sum.accepted));
  x.family("framed_connections_refused_total", "counter",
           "Connections accepted and closed at once, by reason.");
  x.sample("framed_connections_refused_total", {{"reason", "max-conns"}},
           load(sum.refused_max_conns));
  x.sample("framed_connections_refused_total", {{"reason", "per-ip"}}, load(sum.refused_per_ip));
  x.sample("framed_connections_refused_total", {{"reason", "proxy"}}, load(sum.refused_proxy));
  x.sample("framed_connections_refused_total", {{"reason", "shed"}}, load(sum.refused_shed));
  x.sample("framed_connections_refused_total", {{"reason", "tls"}}, load(sum.refused_tls));
  x.family("framed_connections_closed_total", "counter",
           "Connections closed, by why their close began.");
  for (std::size_t i = 1; i < core::kCloseReasons; ++i) {
    const auto reason = static_cast<core::CloseReason>(i);
    x.sample("framed_connections_closed_total", {{"reason", core::to_string(reason)}},
             load(sum.closed[i]));
  }
  x.sample("framed_connections_closed_total", {{"reason", "other"}}, load(sum.closed[0]));
  x.family("framed_timeouts_total", "counter",
           "Connections closed by a timeout (idle, frame, PROXY header, TLS handshake).");
  x.sample("framed_timeouts_total", {}, load(sum.timed_out));
  x.family("framed_protocol_errors_total", "counter",
           "Connections closed for a protocol error (an oversize length, a bad PROXY header).");
  x.sample("framed_protocol_errors_total", {}, load(sum.protocol_errors));

  x.family("framed_frames_received_total", "counter", "Frames received whole.");
  x.sample("framed_frames_received_total", {}, load(sum.frames_received));
  x.family("framed_frames_sent_total", "counter", "Frames whose last byte was written.");
  x.sample("framed_frames_sent_total", {}, load(sum.frames_echoed));
  x.family("framed_received_bytes_total", "counter",
           "Bytes read from sockets (after TLS; a PROXY header's included).");
  x.sample("framed_received_bytes_total", {}, load(sum.bytes_received));
  x.family("framed_sent_bytes_total", "counter", "Bytes written to sockets.");
  x.sample("framed_sent_bytes_total", {}, load(sum.bytes_echoed));
  std::array<std::uint64_t, core::kFrameSizeBounds.size() + 1> sizes{};
  for (std::size_t i = 0; i < sizes.size(); ++i) sizes[i] = load(sum.frame_sizes[i]);
  x.family("framed_frame_size_bytes", "histogram", "Payload sizes of the frames received whole.");
  x.histogram("framed_frame_size_bytes", core::kFrameSizeBounds.data(), sizes.data(),
              core::kFrameSizeBounds.size(), static_cast<double>(load(sum.payload_bytes_received)));

  std::array<std::uint64_t, core::kLatencyBounds.size() + 1> latency{};
  for (std::size_t i = 0; i < latency.size(); ++i) latency[i] = load(sum.latency[i]);
  x.family("framed_reply_latency_seconds", "histogram",
           "From a frame's last byte in (the wake-up that brought it) to its reply's last byte "
           "written: the echo's latency inside the server, backpressure included.");
  x.histogram("framed_reply_latency_seconds", core::kLatencyBounds.data(), latency.data(),
              core::kLatencyBounds.size(), static_cast<double>(load(sum.latency_sum_ns)) / 1e9);

  x.family("framed_worker_frames_received_total", "counter", "Frames received whole, per worker.");
  for (const auto& [index, frames] : worker_frames) {
    x.sample("framed_worker_frames_received_total", {{"worker", std::to_string(index)}}, frames);
  }
  x.family("framed_worker_busy_seconds_total", "counter",
           "Time each worker's loop spent handling events rather than waiting: its rate is "
           "the loop's utilisation (1 = saturated).");
  runtime.for_each_busy([&](std::size_t index, std::uint64_t ns) {
    x.sample("framed_worker_busy_seconds_total", {{"worker", std::to_string(index)}},
             static_cast<double>(ns) / 1e9);
  });
  return x.take();
}

std::string extra_metrics(const ServerOptions& options) {
  if (!options.metrics_extra) return {};
  try {
    return options.metrics_extra();
  } catch (const std::exception& e) {
    util::log(util::LogLevel::error, std::string("metrics_extra threw: ") + e.what() +
                                         "; the scrape goes on without the service's metrics");
  } catch (...) {
    util::log(util::LogLevel::error, "metrics_extra threw a non-exception; the scrape goes on");
  }
  return {};
}

}  // namespace framed::server
