// The metrics listener: a small HTTP/1.1 server on a thread of its own, so
// that no scraper, however slow or hostile, touches a worker. It answers
// one request per connection (Connection: close) and guards itself as the
// frame listener does: a bound on connections (more are accepted and
// closed at once), on the request's size (431), and on time (a connection
// not done `timeout` after its accept is closed), so slowloris, floods of
// idle connections and huge request lines cost bounded memory and no
// worker time. GET and HEAD only (405 otherwise); the route decides the
// rest.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "framed/error.h"
#include "loop/clock.h"
#include "net/fd.h"

namespace framed::ops {

struct HttpLimits {
  std::size_t max_connections = 64;
  std::size_t max_request = 8192;  // Request line and headers.
  // From the accept to the response's last byte written.
  std::chrono::milliseconds timeout{5'000};
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Answers a GET (or HEAD) of `path`; called on the listener's thread.
using HttpRoute = std::function<HttpResponse(std::string_view path)>;

// What the listener has seen, for tests and logs.
struct HttpStats {
  std::atomic<std::uint64_t> requests{0};   // Answered (any status).
  std::atomic<std::uint64_t> refused{0};    // Over max_connections.
  std::atomic<std::uint64_t> timed_out{0};  // Closed at the timeout.
};

class MetricsHttp {
 public:
  // Serves `listener` (bound, listening, non-blocking) on a new thread,
  // reading time from `clock` and counting into `stats` (neither owned;
  // both outlive it). Returns null with `error` set when the thread or its
  // descriptors cannot be made.
  static std::unique_ptr<MetricsHttp> start(net::UniqueFd listener, HttpRoute route,
                                            HttpLimits limits, loop::Clock& clock, HttpStats& stats,
                                            Error& error);
  // Stops and joins the thread; open connections are closed.
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  [[nodiscard]] const HttpStats& stats() const noexcept { return stats_; }

 private:
  MetricsHttp(net::UniqueFd listener, net::UniqueFd wake, HttpRoute route, HttpLimits limits,
              loop::Clock& clock, HttpStats& stats);
  void run();

  net::UniqueFd listener_;
  net::UniqueFd wake_;  // eventfd: the destructor's stop.
  HttpRoute route_;
  HttpLimits limits_;
  loop::Clock& clock_;
  HttpStats& stats_;
  std::thread thread_;
};

// The whole response to send for `status` (headers and, unless `head`,
// the body), with Connection: close.
std::string render_response(const HttpResponse& response, bool head);

// The endpoint's own counters in the text format (framed_metrics_http_*).
std::string render_http_stats(const HttpStats& stats);

}  // namespace framed::ops
