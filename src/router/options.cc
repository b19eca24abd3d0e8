#include "router/options.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "framed/parse.h"

namespace framed::router {
namespace {

using std::chrono::milliseconds;

// "HOST:PORT", "[V6]:PORT"; with `port_only`, a bare "PORT" too.
std::optional<Address> address(std::string_view text, bool allow_zero, bool port_only) {
  Address a;
  std::string_view port;
  if (text.starts_with("[")) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    a.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    a.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (a.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs [].
  } else if (port_only) {
    a.host = "127.0.0.1";
    port = text;
  } else {
    return std::nullopt;
  }
  const auto p = parse_uint(port, 65535);
  if (a.host.empty() || !p || (*p == 0 && !allow_zero)) return std::nullopt;
  a.port = static_cast<std::uint16_t>(*p);
  return a;
}

using Setter = std::function<bool(std::string_view)>;

Setter set_duration(milliseconds& out, bool allow_zero) {
  return [&out, allow_zero](std::string_view v) {
    const auto d = parse_duration(v);
    if (!d || (!allow_zero && d->count() == 0)) return false;
    out = *d;
    return true;
  };
}

// A file name or another text that must not be empty.
Setter set_text(std::string& out) {
  return [&out](std::string_view v) {
    out = std::string(v);
    return !v.empty();
  };
}

Setter set_count(std::size_t& out, std::uint64_t min, std::uint64_t max) {
  return [&out, min, max](std::string_view v) {
    const auto n = parse_uint(v, max);
    if (!n || *n < min) return false;
    out = static_cast<std::size_t>(*n);
    return true;
  };
}

}  // namespace

std::string Address::text() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

const char* usage() {
  return R"(usage: framed-router --listen HOST:PORT --backend HOST:PORT [--backend ...] [options]

A frame-aware load balancer for length-prefixed frames (4-byte big-endian
length, then the payload). Each frame a client sends goes to one backend,
chosen per frame, over a pool of persistent connections; its reply comes
back to that client in the client's order, whichever backend answers first.
A backend must answer every frame with exactly one frame, in order on each
connection (as framed-server does). spec/ROUTER.md says what a client can
rely on.

where:
  --listen HOST:PORT    address to listen on (default 127.0.0.1:7780; port 0
                        picks a free one; [::1]:PORT for IPv6)
  --backend HOST:PORT   a backend (repeat for each; at least one). Pass
                        addresses: a name is resolved on the worker's thread
                        at every (re)connect

balancing:
  --balance B           round-robin (default), least-pending (the backend
                        with the fewest frames in flight), or key (a hash of
                        the payload's first --key-bytes bytes, consistent:
                        a key always goes to the same backend while it is
                        up, and adding a backend moves few keys)
  --key-bytes K         bytes of the payload that make the key (default 8;
                        a shorter payload is its own key)
  --backend-conns N     connections per backend per worker (default 2)
  --max-in-flight N     frames of one client forwarded and not yet answered,
                        at most; its input pauses there (default 128)

backend health:
  --backend-timeout DUR a backend that leaves a frame unanswered this long
                        (counted from the reply before it, if later) is
                        marked down (default 5s)
  --connect-timeout DUR a connect to a backend not done in this time fails
                        (default 1s)
  --retry               frames in flight to a backend that fails (refuses,
                        resets, times out) are sent once to another backend:
                        say so only when frames are idempotent. Without it,
                        the clients of those frames get the replies that
                        came before them, then a clean close
  --probe-interval DUR  a down backend is probed after this, then twice as
                        long each time, up to 5s (default 200ms)

the server (as framed-server):
  --max-conns N         client connections at most (default 1024)
  --max-conns-per-ip N  client connections per client address (default 0: no
                        limit)
  --idle-timeout DUR    close a client with no bytes moving for this long
                        (default 60s, 0 disables)
  --frame-timeout DUR   close a client whose frame has not fully arrived
                        this long after its first byte (default 30s)
  --max-frame BYTES     largest frame, either way (default 16MiB)
  --drain-timeout DUR   on SIGINT/SIGTERM, time allowed for frames in flight
                        to be answered (default 5s)
  --workers N           worker threads, each with its own clients and its own
                        backend connections, or auto (default 1)
  --io B                event loop: auto, poll, epoll or io_uring (default auto)
  --proxy-protocol      clients begin with a PROXY protocol header (v1 or v2)
  --proxy-from CIDR,... peers allowed to send one (default 127.0.0.0/8,::1/128)
  --tls-cert FILE       TLS toward clients with this PEM certificate chain
                        (needs --tls-key); backends stay plain TCP
  --tls-key FILE        the certificate's PEM private key
  --tls-client-ca FILE  mutual TLS: clients must present a certificate this
                        PEM CA signed
  --tls-min-version V   1.2 or 1.3 (default 1.2)
  --tls-handshake-timeout DUR
                        close a client whose handshake has not finished this
                        long after the accept (default 5s)
  --metrics [HOST:]PORT Prometheus metrics at /metrics (the server's, and per
                        backend: up, frames forwarded, replies, in flight,
                        failures, retries) and /healthz. Off by default
  --log-level L         debug, info, warn, error or off (default info)
  --log-format F        text (default) or json
  -h, --help            show this text
  --version             print the version and exit

DUR is a number with a unit: 250ms, 5s, 2m, 1h (or 0). BYTES is a number,
optionally with B, KiB, MiB or GiB.

Once listening, prints "listening on HOST:PORT" on stdout; logs go to stderr.
SIGINT or SIGTERM stops accepting, lets every frame in flight be answered
(up to --drain-timeout), then exits 0. SIGUSR1 logs the counters. SIGHUP
reloads the TLS certificate and key for new clients.
)";
}

Parsed parse(int argc, const char* const* argv, Options& out, std::string& message) {
  ServerOptions& s = out.server;
  s.host = "127.0.0.1";
  s.port = 7780;
  s.name = "framed-router";
  std::string proxy_from;
  const std::map<std::string_view, Setter> with_value = {
      {"--listen",
       [&](std::string_view v) {
         const auto a = address(v, true, false);
         if (!a) return false;
         s.host = a->host;
         s.port = a->port;
         return true;
       }},
      {"--backend",
       [&](std::string_view v) {
         const auto a = address(v, false, false);
         if (a) out.backends.push_back(*a);
         return a.has_value();
       }},
      {"--balance",
       [&](std::string_view v) {
         if (v == "round-robin") out.balance = Balance::round_robin;
         else if (v == "least-pending") out.balance = Balance::least_pending;
         else if (v == "key") out.balance = Balance::key;
         else return false;
         return true;
       }},
      {"--key-bytes", set_count(out.key_bytes, 1, 1U << 20U)},
      {"--backend-conns", set_count(out.backend_conns, 1, 64)},
      {"--max-in-flight", set_count(out.max_in_flight, 1, 1U << 20U)},
      {"--backend-timeout", set_duration(out.backend_timeout, false)},
      {"--connect-timeout", set_duration(out.connect_timeout, false)},
      {"--probe-interval", set_duration(out.probe_interval, false)},
      {"--max-conns", set_count(s.max_conns, 1, 1'000'000)},
      {"--max-conns-per-ip", set_count(s.max_conns_per_ip, 0, 1'000'000)},
      {"--idle-timeout", set_duration(s.idle_timeout, true)},
      {"--frame-timeout", set_duration(s.frame_timeout, true)},
      {"--drain-timeout", set_duration(s.drain_timeout, true)},
      {"--max-frame",
       [&](std::string_view v) {
         const auto n = parse_size(v, 0xFFFFFFFFU);
         if (n) s.max_frame = static_cast<std::uint32_t>(*n);
         return n.has_value();
       }},
      {"--workers",
       [&](std::string_view v) {
         if (v == "auto") {
           s.workers = std::max(1U, std::thread::hardware_concurrency());
           return true;
         }
         std::size_t n = 0;
         if (!set_count(n, 1, 256)(v)) return false;
         s.workers = n;
         return true;
       }},
      {"--io",
       [&](std::string_view v) {
         if (v == "auto") s.backend = Backend::automatic;
         else if (v == "poll") s.backend = Backend::poll;
         else if (v == "epoll") s.backend = Backend::epoll;
         else if (v == "io_uring") s.backend = Backend::io_uring;
         else return false;
         return true;
       }},
      {"--proxy-from", set_text(proxy_from)},
      {"--metrics",
       [&](std::string_view v) {
         const auto a = address(v, true, true);
         if (!a) return false;
         s.metrics = true;
         s.metrics_host = a->host;
         s.metrics_port = a->port;
         return true;
       }},
      {"--log-level",
       [&](std::string_view v) {
         constexpr std::pair<std::string_view, LogLevel> levels[] = {
             {"debug", LogLevel::debug}, {"info", LogLevel::info}, {"warn", LogLevel::warn},
             {"error", LogLevel::error}, {"off", LogLevel::off}};
         for (const auto& [name, level] : levels) {
           if (v == name) {
             s.log_level = level;
             return true;
           }
         }
         return false;
       }},
      {"--tls-cert", set_text(s.tls.cert_file)},
      {"--tls-key", set_text(s.tls.key_file)},
      {"--tls-client-ca", set_text(s.tls.client_ca_file)},
      {"--tls-min-version",
       [&](std::string_view v) {
         s.tls.min_version = std::string(v);
         return v == "1.2" || v == "1.3";
       }},
      {"--tls-handshake-timeout", set_duration(s.tls.handshake_timeout, true)},
      {"--log-format",
       [&](std::string_view v) {
         if (v == "text") s.log_format = LogFormat::text;
         else if (v == "json") s.log_format = LogFormat::json;
         else return false;
         return true;
       }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") return Parsed::help;
    if (arg == "--version") return Parsed::version;
    if (arg == "--retry") {
      out.retry = true;
      continue;
    }
    if (arg == "--proxy-protocol") {
      s.proxy_protocol = true;
      continue;
    }
    std::string_view value;
    bool inline_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    const auto it = with_value.find(arg);
    if (it == with_value.end()) {
      message = arg.starts_with("-") ? "unknown option '" + std::string(arg) + "'"
                                     : "unexpected argument '" + std::string(arg) + "'";
      return Parsed::error;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        message = "option '" + std::string(arg) + "' needs a value";
        return Parsed::error;
      }
      value = argv[++i];
    }
    if (!it->second(value)) {
      message = "invalid value '" + std::string(value) + "' for " + std::string(arg);
      return Parsed::error;
    }
  }
  if (out.backends.empty()) {
    message = "at least one --backend HOST:PORT is needed";
    return Parsed::error;
  }
  const bool tls_asked = !s.tls.cert_file.empty() || !s.tls.key_file.empty() ||
                         !s.tls.client_ca_file.empty();
  if (tls_asked && !tls_supported()) {
    message = "this framed-router was built without TLS (OpenSSL 3 was not found)";
    return Parsed::error;
  }
  if (tls_asked && (s.tls.cert_file.empty() || s.tls.key_file.empty())) {
    message = "TLS needs both --tls-cert and --tls-key";
    return Parsed::error;
  }
  if (!proxy_from.empty()) {
    s.proxy_from.clear();
    for (std::size_t start = 0; start <= proxy_from.size();) {
      const auto comma = proxy_from.find(',', start);
      const auto end = comma == std::string::npos ? proxy_from.size() : comma;
      if (end > start) s.proxy_from.push_back(proxy_from.substr(start, end - start));
      start = end + 1;
    }
  }
  out.probe_max = std::max(out.probe_max, out.probe_interval);
  return Parsed::run;
}

}  // namespace framed::router
