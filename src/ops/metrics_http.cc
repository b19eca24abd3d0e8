#include "ops/metrics_http.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <string>
#include <system_error>
#include <vector>

#include "net/socket.h"
#include "ops/exposition.h"
#include "ops/http_request.h"
#include "util/log.h"

namespace framed::ops {
namespace {

using loop::TimePoint;

// After an accept fails for want of descriptors (or memory), the listener
// is left alone this long instead of being polled readable in a spin.
constexpr std::chrono::milliseconds kAcceptPause{100};

const char* reason_phrase(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

struct Client {
  net::UniqueFd fd;
  TimePoint deadline;
  std::string in;
  std::string out;  // The response, once decided.
  std::size_t sent = 0;
  bool first_line = false;  // The request line was whole and sound.
  bool writing = false;
  // The response is out and our side shut down: what the peer still sends
  // is read and dropped until its EOF (or the deadline), so the close does
  // not reset the connection and destroy the response before it is read.
  bool lingering = false;
};

HttpResponse plain(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

std::string render_response(const HttpResponse& response, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    reason_phrase(response.status) + "\r\nContent-Type: " + response.content_type +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) +
                    "\r\nConnection: close\r\n";
  if (response.status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head) out += response.body;
  return out;
}

std::string render_http_stats(const HttpStats& stats) {
  Exposition x;
  x.family("framed_metrics_http_requests_total", "counter",
           "Requests the metrics endpoint answered (any status).");
  x.sample("framed_metrics_http_requests_total", {},
           stats.requests.load(std::memory_order_relaxed));
  x.family("framed_metrics_http_refused_total", "counter",
           "Connections to the metrics endpoint over its bound, closed at once.");
  x.sample("framed_metrics_http_refused_total", {}, stats.refused.load(std::memory_order_relaxed));
  x.family("framed_metrics_http_timeouts_total", "counter",
           "Connections to the metrics endpoint closed at --metrics-timeout.");
  x.sample("framed_metrics_http_timeouts_total", {},
           stats.timed_out.load(std::memory_order_relaxed));
  return x.take();
}

std::unique_ptr<MetricsHttp> MetricsHttp::start(net::UniqueFd listener, HttpRoute route,
                                                HttpLimits limits, loop::Clock& clock,
                                                HttpStats& stats, Error& error) {
  net::UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) {
    error = {net::SysError{"eventfd", errno}.message()};
    return nullptr;
  }
  std::unique_ptr<MetricsHttp> h(new MetricsHttp(std::move(listener), std::move(wake),
                                                 std::move(route), limits, clock, stats));
  // The thread takes no signal: they are the program's.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    h->thread_ = std::thread([raw = h.get()] { raw->run(); });
  } catch (const std::system_error& e) {
    // Out of threads (EAGAIN): an error value, and the caller's mask back.
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    error = {std::string("cannot start the metrics thread: ") + e.what()};
    return nullptr;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return h;
}

MetricsHttp::MetricsHttp(net::UniqueFd listener, net::UniqueFd wake, HttpRoute route,
                         HttpLimits limits, loop::Clock& clock, HttpStats& stats)
    : listener_(std::move(listener)),
      wake_(std::move(wake)),
      route_(std::move(route)),
      limits_(limits),
      clock_(clock),
      stats_(stats) {}

MetricsHttp::~MetricsHttp() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    (void)::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
}

void MetricsHttp::run() {
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  std::vector<char> buf(4096);
  TimePoint accept_paused_until{};
  for (;;) {
    const TimePoint now = clock_.now();
    // Deadlines first: a connection past its time is closed, whatever it
    // was doing (slowloris, or a scraper that does not read).
    std::erase_if(clients, [&](const Client& c) {
      if (now < c.deadline) return false;
      stats_.timed_out.fetch_add(1, std::memory_order_relaxed);
      return true;
    });
    TimePoint wake_at = TimePoint::max();
    for (const Client& c : clients) wake_at = std::min(wake_at, c.deadline);
    const bool accepting = now >= accept_paused_until;
    if (!accepting) wake_at = std::min(wake_at, accept_paused_until);
    fds.clear();
    fds.push_back({wake_.get(), POLLIN, 0});
    fds.push_back({accepting ? listener_.get() : -1, POLLIN, 0});
    for (const Client& c : clients) {
      const bool out = c.writing && !c.lingering;
      fds.push_back({c.fd.get(), static_cast<short>(out ? POLLOUT : POLLIN), 0});
    }
    int timeout = -1;
    if (wake_at != TimePoint::max()) {
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count();
      timeout = static_cast<int>(std::clamp<std::int64_t>(ms, 0, INT_MAX));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      // Nothing more can be served (the frame path is unaffected): say so,
      // and close the listener, so scrapers are refused rather than hang.
      util::log(util::LogLevel::error,
                net::SysError{"poll", errno}.message() + ": the metrics endpoint stops");
      listener_.reset();
      return;
    }
    if (fds[0].revents != 0) return;
    // Each client first (the vector may grow below).
    for (std::size_t i = 0; i < clients.size(); ++i) {
      const short ev = fds[i + 2].revents;
      if (ev == 0) continue;
      Client& c = clients[i];
      if (c.lingering) {
        const auto r = net::read_some(c.fd.get(), std::as_writable_bytes(std::span(buf)));
        if (r.eof || !r.error.ok()) c.fd.reset();
        continue;
      }
      if (!c.writing) {
        // Read what is there, up to one byte past the limit.
        const std::size_t room =
            limits_.max_request + 1 - std::min(c.in.size(), limits_.max_request + 1);
        const auto r = net::read_some(
            c.fd.get(), std::as_writable_bytes(std::span(
                            buf.data(), std::min(buf.size(), std::max<std::size_t>(room, 1)))));
        if (r.eof || !r.error.ok()) {
          c.fd.reset();
          continue;
        }
        const std::size_t before = c.in.size();
        c.in.append(buf.data(), r.bytes);
        // The whole request is parsed only when it can be judged: the
        // first 16 bytes or the first line's end (garbage is refused at
        // once), an end of headers in the new bytes, or the limit. A peer
        // sending a line per segment then costs its bytes once, not its
        // bytes squared (found by review).
        const std::string_view seen(c.in);
        const std::size_t from = before >= 3 ? before - 3 : 0;
        const bool judge = before < 16 ||
                           (!c.first_line && seen.find('\n', before) != std::string_view::npos) ||
                           seen.find("\n\n", from) != std::string_view::npos ||
                           seen.find("\n\r\n", from) != std::string_view::npos ||
                           c.in.size() >= limits_.max_request;
        if (!judge) continue;
        HttpRequest req;
        const HttpParse p = parse_http_request(c.in, limits_.max_request, req);
        if (p == HttpParse::need_more) {
          c.first_line = seen.find('\n') != std::string_view::npos;
          continue;
        }
        bool head = false;
        HttpResponse resp;
        if (p == HttpParse::bad) {
          resp = plain(400, "not an HTTP/1.x request\n");
        } else if (p == HttpParse::too_large) {
          resp = plain(431, "request line and headers over " + std::to_string(limits_.max_request) +
                                " bytes\n");
        } else if (req.method != "GET" && req.method != "HEAD") {
          resp = plain(405, "only GET and HEAD\n");
        } else {
          head = req.method == "HEAD";
          resp = route_(req.path);
        }
        // One request per connection: anything pipelined behind it is
        // left unread (Connection: close says so).
        c.out = render_response(resp, head);
        c.writing = true;
        stats_.requests.fetch_add(1, std::memory_order_relaxed);
      }
      const auto w = net::write_some(
          c.fd.get(), std::as_bytes(std::span(c.out.data() + c.sent, c.out.size() - c.sent)));
      if (!w.error.ok()) {
        c.fd.reset();
        continue;
      }
      c.sent += w.bytes;
      if (c.sent == c.out.size()) {
        // A FIN after the response; the close waits for the peer's
        // (lingering), so that input left unread (a pipelined request, the
        // rest of an oversize one) cannot turn it into a reset.
        ::shutdown(c.fd.get(), SHUT_WR);
        c.lingering = true;
        c.out.clear();
        c.out.shrink_to_fit();
      }
    }
    std::erase_if(clients, [](const Client& c) { return !c.fd.valid(); });
    if (fds[1].revents != 0) {
      for (int n = 0; n < 64; ++n) {
        const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) accept_paused_until = now + kAcceptPause;
          break;
        }
        net::UniqueFd accepted(fd);
        if (clients.size() >= limits_.max_connections) {
          stats_.refused.fetch_add(1, std::memory_order_relaxed);
          continue;  // Closed at once.
        }
        Client c;
        c.fd = std::move(accepted);
        c.deadline = clock_.now() + limits_.timeout;
        clients.push_back(std::move(c));
      }
    }
  }
}

}  // namespace framed::ops
