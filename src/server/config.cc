#include "server/config.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <string_view>
#include <vector>

#include "framed/version.h"
#include "net/cidr.h"
#include "util/parse.h"

namespace framed::server {

std::string usage() {
  return R"(Usage: framed-server [options]

An echo server for length-prefixed frames (4-byte big-endian length, then the
payload). Every complete frame is sent back unchanged, in order.

options:
  --host ADDR           address or name to listen on (default 127.0.0.1;
                        IPv6 literals such as ::1 work)
  --port N              TCP port, 0 picks a free one (default 7777)
  --max-conns N         open connections at most; more are accepted and
                        closed at once (default 1024)
  --max-conns-per-ip N  open connections per client at most (its IPv4
                        address, or its IPv6 /64; behind --proxy-protocol,
                        the address the header names); more are closed at
                        once (default 0: no limit)
  --idle-timeout DUR    close a connection with no bytes moving either way
                        for this long (default 60s, 0 disables)
  --frame-timeout DUR   close a connection whose frame has not fully arrived
                        this long after its first byte (default 30s, 0 disables)
  --max-frame BYTES     largest payload accepted (default 16MiB, at most
                        4294967295); a larger length closes the connection
  --drain-timeout DUR   on SIGINT/SIGTERM, time allowed to finish frames in
                        progress and flush echoes (default 5s; 0 closes
                        every connection at once)
  --linger-timeout DUR  a closing connection whose peer acknowledges none of
                        its echoes for this long is closed (default 5s)
  --linger-time DUR     a closing connection is closed at the latest this
                        long after the close began (default 30s)
  --backend B           event loop backend: auto, poll, epoll or io_uring
                        (default auto, which is epoll; poll is the portable
                        reference; io_uring saves CPU with many connections
                        and small frames, loses on bulk: see the README).
                        io_uring exits 1 naming the reason where the kernel
                        or a sandbox refuses it
  --uring-buffers N     io_uring receive buffers per worker, a power of two
                        up to 32768, each as large as a read (64KiB)
                        (default 128)
  --workers N           worker threads, each with its own event loop and
                        connections, or auto for one per online CPU (default 1);
                        --max-conns stays one global limit
  --log-level L         debug, info, warn, error or off (default info)
  --log-format F        text (default) or json: one JSON object per line
                        with time, level, event, msg and the event's fields
                        (peer, conn, worker, reason, ...)
  --proxy-protocol      every connection must begin with a PROXY protocol
                        header (v1 or v2, as HAProxy's send-proxy and
                        send-proxy-v2 write it); logs then name the client
                        it carries (default off)
  --proxy-from CIDR,... peers allowed to send the header; others are closed
                        at once (default 127.0.0.0/8,::1/128)
  --proxy-timeout DUR   close a connection whose header is not complete this
                        long after the accept (default 3s, 0 disables)
  --tls-cert FILE       serve TLS with this PEM certificate chain (leaf
                        first); needs --tls-key. Off by default
  --tls-key FILE        the certificate's PEM private key
  --tls-client-ca FILE  mutual TLS: clients must present a certificate this
                        PEM CA signed; others fail the handshake
  --tls-min-version V   1.2 or 1.3 (default 1.2)
  --tls-ciphers LIST    TLS 1.2 ciphers, OpenSSL syntax (default Mozilla's
                        intermediate list: ECDHE, AEAD, AES-128-GCM first)
  --tls-ciphersuites L  TLS 1.3 suites, OpenSSL syntax (default
                        TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:
                        TLS_CHACHA20_POLY1305_SHA256)
  --tls-handshake-timeout DUR
                        close a connection whose TLS handshake has not
                        finished this long after the accept (default 5s)
  --metrics [HOST:]PORT serve Prometheus metrics at /metrics and a health
                        check at /healthz (503 once draining) over HTTP on
                        this address (HOST defaults to 127.0.0.1; [::1]:PORT
                        for IPv6). Off by default
  --metrics-timeout DUR close a metrics connection not answered this long
                        after its accept (default 5s)
  -h, --help            show this text
  --version             print the version and exit

DUR is a number with a unit: 250ms, 5s, 2m, 1h (or 0). BYTES is a number,
optionally with B, KiB, MiB or GiB.

Once listening, prints "listening on HOST:PORT" on stdout; logs go to stderr.
SIGINT or SIGTERM drains and exits 0; a second one exits at once.
SIGUSR1 logs the counters. SIGHUP reloads the TLS certificate and key for
new connections (a bad file keeps the old ones, with a warning).

Under systemd: with socket activation (LISTEN_FDS, as framed-server.socket
sets up) the one inherited listening socket is used, shared by every worker,
and --host and --port are ignored; with NOTIFY_SOCKET (Type=notify) READY=1
is sent once listening and STOPPING=1 when the drain begins.
)";
}

std::string version_line() { return std::string("framed-server ") + FRAMED_VERSION; }

ParseOutcome parse_args(int argc, const char* const* argv, Config& config, std::string& message) {
  using Setter = std::function<bool(std::string_view)>;
  auto duration = [](milliseconds& out) {
    return Setter([&out](std::string_view v) {
      const auto d = util::parse_duration(v);
      if (d) out = *d;
      return d.has_value();
    });
  };
  auto positive = [](milliseconds& out) {
    return Setter([&out](std::string_view v) {
      const auto d = util::parse_duration(v);
      if (d && d->count() > 0) out = *d;
      return d.has_value() && d->count() > 0;
    });
  };
  auto text = [](std::string& out) {
    return Setter([&out](std::string_view v) {
      out = std::string(v);
      return !v.empty();
    });
  };
  struct Flag {
    std::string_view name;
    std::string_view expects;
    Setter set;
  };
  const Flag flags[] = {
      {"--host", "an address or host name",
       [&](std::string_view v) {
         config.host = std::string(v);
         return !v.empty();
       }},
      {"--port", "a port number from 0 to 65535",
       [&](std::string_view v) {
         const auto p = util::parse_uint(v, 65535);
         if (p) config.port = static_cast<std::uint16_t>(*p);
         return p.has_value();
       }},
      {"--max-conns", "a count from 1 to 1000000",
       [&](std::string_view v) {
         const auto n = util::parse_uint(v, 1'000'000);
         if (n && *n > 0) config.max_conns = static_cast<std::size_t>(*n);
         return n.has_value() && *n > 0;
       }},
      {"--max-conns-per-ip", "a count from 0 to 1000000",
       [&](std::string_view v) {
         const auto n = util::parse_uint(v, 1'000'000);
         if (n) config.max_conns_per_ip = static_cast<std::size_t>(*n);
         return n.has_value();
       }},
      {"--idle-timeout", "a duration such as 60s, 250ms or 0", duration(config.idle_timeout)},
      {"--frame-timeout", "a duration such as 30s, 250ms or 0", duration(config.frame_timeout)},
      {"--drain-timeout", "a duration such as 5s or 500ms", duration(config.drain_timeout)},
      {"--linger-timeout", "a duration such as 5s or 500ms, above 0",
       positive(config.linger_timeout)},
      {"--linger-time", "a duration such as 30s, above 0", positive(config.linger_time)},
      {"--max-frame", "a size up to 4294967295 bytes, such as 16MiB",
       [&](std::string_view v) {
         const auto n = util::parse_size(v, std::numeric_limits<std::uint32_t>::max());
         if (n) config.max_frame = static_cast<std::uint32_t>(*n);
         return n.has_value();
       }},
      {"--uring-buffers", "a power of two from 1 to 32768",
       [&](std::string_view v) {
         const auto n = util::parse_uint(v, 32768);
         const bool ok = n && *n > 0 && (*n & (*n - 1)) == 0;
         if (ok) config.uring_buffers = static_cast<unsigned>(*n);
         return ok;
       }},
      {"--backend", "one of auto, poll, epoll, io_uring",
       [&](std::string_view v) { return loop::parse_backend(v, config.backend); }},
      {"--workers", "a count from 1 to 256, or auto",
       [&](std::string_view v) {
         if (v == "auto") {
           const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
           config.workers = n > 0 ? static_cast<std::size_t>(std::min(n, 256L)) : 1;
           return true;
         }
         const auto n = util::parse_uint(v, 256);
         if (n && *n > 0) config.workers = static_cast<std::size_t>(*n);
         return n.has_value() && *n > 0;
       }},
      {"--proxy-from", "comma-separated CIDRs such as 127.0.0.0/8,::1/128",
       [&](std::string_view v) {
         std::vector<std::string> items;
         std::vector<net::Cidr> parsed;
         std::string bad;
         if (!net::split_list(v, items) || !net::parse_cidrs(items, parsed, bad)) return false;
         config.proxy_from = std::move(items);
         return true;
       }},
      {"--proxy-timeout", "a duration such as 3s, 500ms or 0", duration(config.proxy_timeout)},
      {"--metrics", "[HOST:]PORT, such as 9100, 127.0.0.1:9100 or [::1]:9100",
       [&](std::string_view v) {
         std::string_view host = "127.0.0.1";
         std::string_view port = v;
         if (const auto colon = v.rfind(':'); colon != std::string_view::npos) {
           host = v.substr(0, colon);
           port = v.substr(colon + 1);
           if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
             host = host.substr(1, host.size() - 2);
           }
         }
         const auto p = util::parse_uint(port, 65535);
         if (!p || host.empty()) return false;
         config.metrics = true;
         config.metrics_host = std::string(host);
         config.metrics_port = static_cast<std::uint16_t>(*p);
         return true;
       }},
      {"--metrics-timeout", "a duration above 0, such as 5s", positive(config.metrics_timeout)},
      {"--tls-cert", "a PEM file", text(config.tls.cert_file)},
      {"--tls-key", "a PEM file", text(config.tls.key_file)},
      {"--tls-client-ca", "a PEM file", text(config.tls.client_ca_file)},
      {"--tls-min-version", "1.2 or 1.3",
       [&](std::string_view v) {
         config.tls.min_version = std::string(v);
         return v == "1.2" || v == "1.3";
       }},
      {"--tls-ciphers", "an OpenSSL cipher list", text(config.tls.ciphers)},
      {"--tls-ciphersuites", "an OpenSSL TLS 1.3 suite list", text(config.tls.ciphersuites)},
      {"--tls-handshake-timeout", "a duration such as 5s or 500ms, above 0",
       positive(config.tls.handshake_timeout)},
      {"--log-level", "one of debug, info, warn, error, off",
       [&](std::string_view v) {
         const auto l = util::parse_log_level(v);
         if (l) config.log_level = *l;
         return l.has_value();
       }},
      {"--log-format", "text or json",
       [&](std::string_view v) {
         if (v == "text") config.log_format = LogFormat::text;
         if (v == "json") config.log_format = LogFormat::json;
         return v == "text" || v == "json";
       }},
  };

  bool tls_asked = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") return ParseOutcome::help;
    // The one switch that takes no value.
    if (arg == "--proxy-protocol") {
      config.proxy_protocol = true;
      continue;
    }
    if (arg == "--version") return ParseOutcome::version;
    std::string_view value;
    bool has_value = false;
    if (const auto eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags) {
      if (f.name == arg) flag = &f;
    }
    if (flag == nullptr) {
      message = "unknown option '" + std::string(argv[i]) + "'";
      return ParseOutcome::error;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        message =
            "option " + std::string(arg) + " needs a value (" + std::string(flag->expects) + ")";
        return ParseOutcome::error;
      }
      value = argv[++i];
    }
    if (!flag->set(value)) {
      message = "invalid value '" + std::string(value) + "' for " + std::string(arg) +
                ": expected " + std::string(flag->expects);
      return ParseOutcome::error;
    }
    if (arg.starts_with("--tls-")) tls_asked = true;
  }
  if (tls_asked) {
    if (!framed::tls_supported()) {
      message =
          "TLS is not available: this framed-server was built without OpenSSL 3 "
          "(install libssl-dev and rebuild)";
      return ParseOutcome::error;
    }
    if (!config.tls.enabled()) {
      message = "the --tls-* options need --tls-cert (and --tls-key)";
      return ParseOutcome::error;
    }
    if (config.tls.key_file.empty()) {
      message = "--tls-cert needs --tls-key";
      return ParseOutcome::error;
    }
  }
  return ParseOutcome::run;
}

}  // namespace framed::server
