// framed::Server: checks its options, makes its listeners and runs its
// workers (server/runtime.h). Nothing of the process is touched here.
#include <string>
#include <utility>

#include "framed/server.h"
#include "loop/clock.h"
#include "loop/poller.h"
#include "net/cidr.h"
#include "ops/exposition.h"
#include "server/listeners.h"
#include "server/metrics.h"
#include "server/runtime.h"
#include "server/server_impl.h"
#include "util/log.h"

namespace framed {
namespace {

using util::log;
using util::LogLevel;

// Options no server can run with. Returns why.
Error check(const ServerOptions& o) {
  if (o.workers == 0) return {"workers must be at least 1"};
  if (o.max_conns == 0) return {"max_conns must be at least 1"};
  if (o.outbound_reserve >= o.max_conns) {
    return {"outbound_reserve (" + std::to_string(o.outbound_reserve) +
            ") must be below max_conns (" + std::to_string(o.max_conns) + ")"};
  }
  if (o.read_chunk == 0) return {"read_chunk must be at least 1 byte"};
  if (o.backlog_cap == 0) return {"backlog_cap must be at least 1 byte"};
  if (o.high_water == 0 || o.low_water >= o.high_water) {
    return {"low_water must be below high_water, and high_water above 0"};
  }
  if (o.linger_timeout.count() <= 0 || o.linger_time.count() <= 0) {
    return {"linger_timeout and linger_time must be above 0"};
  }
  if (o.idle_timeout.count() < 0 || o.frame_timeout.count() < 0 || o.drain_timeout.count() < 0 ||
      o.proxy_timeout.count() < 0 || o.metrics_timeout.count() < 0) {
    return {"timeouts cannot be negative"};
  }
  if (o.backend == Backend::io_uring && (o.uring_buffers == 0 || o.uring_buffers > 32768 ||
                                         (o.uring_buffers & (o.uring_buffers - 1)) != 0)) {
    return {"uring_buffers must be a power of two from 1 to 32768"};
  }
  if (o.tls.enabled() && o.tls.handshake_timeout.count() < 0) {
    return {"the TLS handshake timeout cannot be negative"};
  }
  if (o.proxy_protocol) {
    std::vector<net::Cidr> ranges;
    std::string bad;
    if (!net::parse_cidrs(o.proxy_from, ranges, bad) || ranges.empty()) {
      return {"bad proxy_from range '" + bad + "'"};
    }
  }
  return {};
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// Binds the metrics endpoint's socket (before any worker starts, so that a
// taken port is one clear error). Returns why not.
Error bind_metrics(const ServerOptions& config, net::UniqueFd& out, net::Endpoint& bound) {
  std::vector<net::Endpoint> candidates;
  std::string detail;
  if (const auto e =
          net::resolve(config.metrics_host, config.metrics_port, true, candidates, detail);
      !e.ok()) {
    return {"cannot resolve the metrics address '" + config.metrics_host + "': " + detail};
  }
  net::SysError last;
  for (const auto& ep : candidates) {
    last = net::listen_on(ep, 1024, out, net::ReusePort::none);
    if (last.ok()) break;
  }
  if (!out) {
    return {"cannot listen for metrics on " + config.metrics_host + " port " +
            std::to_string(config.metrics_port) + ": " + last.message()};
  }
  if (const auto e = net::local_endpoint(out.get(), bound); !e.ok()) return {e.message()};
  return {};
}

// What the metrics endpoint answers for `path`.
ops::HttpResponse route_metrics(const server::Runtime& runtime, const ops::HttpStats& stats,
                                std::string_view path) {
  ops::HttpResponse r;
  if (path == "/metrics") {
    r.content_type = std::string(ops::kExpositionType);
    r.body = server::render_metrics(runtime) + ops::render_http_stats(stats);
    r.body += server::extra_metrics(runtime.config());
  } else if (path == "/healthz") {
    // A load balancer takes a draining server out of rotation.
    r.status = runtime.stopping() ? 503 : 200;
    r.body = runtime.stopping() ? "draining\n" : "ok\n";
  } else {
    r.status = 404;
    r.body = "not found: try /metrics or /healthz\n";
  }
  return r;
}

}  // namespace

Server::Server(ServerOptions options, HandlerFactory make_handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->make_handler = std::move(make_handler);
}

Server::~Server() {
  if (impl_->runtime) {
    impl_->runtime->abort();
    (void)impl_->runtime->wait();
  }
}

Error Server::start() {
  Impl& m = *impl_;
  if (m.started) return {"start() was already called"};
  m.started = true;
  ServerOptions& config = m.options;
  // A passed socket is ours from here on, whatever happens next.
  net::UniqueFd passed(config.listen_fd);
  if (Error e = check(config)) return e;
  if (Error e = server::resolve_backend(config)) return e;

  std::vector<net::UniqueFd> listeners;
  const bool adopted = passed.valid();
  if (Error e = adopted ? server::adopt_listener(config, passed.release(), listeners, m.bound)
                        : server::bind_listeners(config, listeners, m.bound)) {
    return e;
  }
  net::UniqueFd metrics_listener;
  if (config.metrics) {
    if (Error e = bind_metrics(config, metrics_listener, m.metrics_bound)) return e;
  }
  auto runtime = std::make_unique<server::Runtime>(config, std::move(listeners), m.make_handler,
                                                   loop::system_clock(), adopted);
  runtime->set_labels(m.frames_label, m.bytes_label);
  if (Error e = runtime->prepare()) return e;
  // Published before any worker runs: a handler that calls stop() on its
  // first frame must find it.
  server::Runtime* r = runtime.get();
  {
    const std::lock_guard<std::mutex> lock(m.mutex);
    m.runtime = std::move(runtime);
  }
  if (Error e = r->start()) {
    const std::lock_guard<std::mutex> lock(m.mutex);
    m.runtime.reset();  // start() has stopped and joined what it started.
    return e;
  }
  if (metrics_listener) {
    ops::HttpLimits limits;
    limits.timeout = config.metrics_timeout;
    Error e;
    auto http = ops::MetricsHttp::start(
        std::move(metrics_listener),
        [r, stats = &m.metrics_stats](std::string_view path) {
          return route_metrics(*r, *stats, path);
        },
        limits, loop::system_clock(), m.metrics_stats, e);
    if (!http) {
      r->abort();
      (void)r->wait();
      return e;
    }
    const std::lock_guard<std::mutex> lock(m.mutex);
    m.metrics = std::move(http);
  }
  const std::string proxy_note =
      config.proxy_protocol ? ", PROXY protocol from " + join(config.proxy_from) + " within " +
                                  std::to_string(config.proxy_timeout.count()) + "ms"
                            : std::string();
  log(LogLevel::info,
      config.name + " on " + m.bound.to_string() +
          (adopted ? " (a listening socket passed in)" : "") + ": backend " +
          std::string(loop::to_string(config.backend)) + ", workers " +
          std::to_string(config.workers) + ", max-conns " +
          std::to_string(config.max_conns - config.outbound_reserve) +
          (config.outbound_reserve > 0
               ? " (and " + std::to_string(config.outbound_reserve) + " kept for outbound)"
               : std::string()) +
          ", max-frame " + std::to_string(config.max_frame) + " bytes" + proxy_note +
          (config.tls.enabled()
               ? ", TLS " + config.tls.min_version + "+" +
                     (config.tls.client_ca_file.empty() ? std::string()
                                                        : std::string(" with client certificates"))
               : std::string()),
      util::LogEvent("listening")
          .text("address", m.bound.to_string())
          .text("backend", loop::to_string(config.backend))
          .number("workers", config.workers)
          .number("max_conns", config.max_conns - config.outbound_reserve)
          .text("tls", config.tls.enabled() ? "on" : "off"));
  if (config.metrics) {
    log(LogLevel::info,
        "metrics on http://" + m.metrics_bound.to_string() + "/metrics (and /healthz)",
        util::LogEvent("metrics_listening").text("address", m.metrics_bound.to_string()));
  }
  return {};
}

std::uint16_t Server::port() const noexcept {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->runtime ? impl_->bound.port() : std::uint16_t{0};
}

std::vector<std::string> Server::addresses() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->runtime) return {};
  return {impl_->bound.to_string()};
}

void Server::stop(std::chrono::milliseconds drain_timeout) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->runtime) (void)impl_->runtime->stop(drain_timeout);
}

void Server::stop() { stop(impl_->options.drain_timeout); }

void Server::abort() {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->runtime) impl_->runtime->abort();
}

Error Server::reload_tls() {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->runtime) return {"the server is not running", Errc::invalid_argument};
  return impl_->runtime->reload_tls();
}

StopReport Server::wait() {
  server::Runtime* runtime = nullptr;
  {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    runtime = impl_->runtime.get();
  }
  if (runtime == nullptr) {
    StopReport r;
    r.error = {impl_->started ? "the server did not start" : "the server was not started"};
    return r;
  }
  StopReport report = runtime->wait();  // Destroyed only with the Server.
  // The endpoint answered (503 on /healthz) through the drain; it ends with it.
  std::unique_ptr<ops::MetricsHttp> metrics;
  {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    metrics = std::move(impl_->metrics);
  }
  metrics.reset();
  return report;
}

StopReport Server::run() {
  if (Error e = start()) {
    StopReport r;
    r.error = std::move(e);
    return r;
  }
  return wait();
}

void Server::for_each_loop(const std::function<void(Loop&)>& f) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->runtime) impl_->runtime->for_each_loop(f);
}

ServerCounters Server::counters() const noexcept {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->runtime ? impl_->runtime->counters() : ServerCounters{};
}

std::string Server::metrics() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->runtime) return {};
  std::string text = server::render_metrics(*impl_->runtime);
  text += server::extra_metrics(impl_->runtime->config());
  return text;
}

std::uint16_t Server::metrics_port() const noexcept {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->metrics ? impl_->metrics_bound.port() : std::uint16_t{0};
}

std::size_t Server::open_connections() const noexcept {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->runtime ? impl_->runtime->open() : 0;
}

void set_log_level(LogLevel level) noexcept { util::set_log_level(level); }
void set_log_format(LogFormat format) noexcept { util::set_log_format(format); }

void log_event(LogLevel level, std::string_view event, std::string_view message,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  if (!util::log_enabled(level)) return;
  util::LogEvent e(event);
  for (const auto& [key, value] : fields) e.text(key, value);
  util::log(level, message, e);
}

bool log_level_enabled(LogLevel level) noexcept { return util::log_enabled(level); }

}  // namespace framed
