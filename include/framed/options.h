/// @file
/// framed::ServerOptions: everything a framed::Server is configured with
/// (listening, limits, timeouts, flow control, workers and their event
/// loop, PROXY protocol, TLS, metrics and logs), with the defaults
/// framed-server uses. framed/server.h includes it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framed/decoder.h"

namespace framed {

/// TLS on the listening side (OpenSSL 3; see tls_supported()). Off while
/// cert_file is empty. Outbound connections (Loop::connect) stay plain.
/// TLS 1.2 is the floor, renegotiation is refused, and session tickets
/// (resumption) are on. spec/PROTOCOL.md §7 says how closes work over TLS.
struct TlsOptions {
  std::string cert_file;  ///< PEM: the certificate chain, leaf first.
  std::string key_file;   ///< PEM: the certificate's private key.
  /// PEM: when set, mutual TLS: a client must present a certificate that
  /// this CA signed, or the handshake fails and the connection is closed.
  std::string client_ca_file;
  std::string min_version = "1.2";  ///< "1.2" or "1.3".
  /// TLS 1.2 cipher list (OpenSSL syntax); empty: framed's default,
  /// Mozilla's "intermediate" list (ECDHE with AES-GCM or ChaCha20-Poly1305,
  /// AES-128-GCM first).
  std::string ciphers;
  /// TLS 1.3 suites (OpenSSL syntax); empty: framed's default, Mozilla's
  /// "intermediate" order (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305).
  std::string ciphersuites;
  /// A handshake not finished this long after the accept closes the
  /// connection (0 disables, which a deployment should not).
  std::chrono::milliseconds handshake_timeout{5'000};
  [[nodiscard]] bool enabled() const noexcept { return !cert_file.empty(); }
};

/// Whether this build has TLS (OpenSSL 3 was found when it was built).
/// Without it, a Server whose TlsOptions are enabled fails to start.
[[nodiscard]] bool tls_supported() noexcept;

/// How the event loop waits for sockets. poll is the portable reference;
/// epoll scales with connections (Linux); io_uring submits reads and writes
/// in batches (Linux 6.0+, when built with liburing; refused by some
/// sandboxes). automatic is epoll today: io_uring wins only with many
/// connections and small frames, and loses on bulk (README, "Backends").
enum class Backend : std::uint8_t { poll, epoll, io_uring, automatic };

/// Log verbosity; logs go to stderr, one line per event.
enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, off = 4 };
/// How log lines are written: text (the default, for people), or one JSON
/// object per line with time, level, event, message and the event's fields
/// (peer, conn, worker, reason, ...), for log pipelines.
enum class LogFormat { text, json };

struct ServerOptions {
  std::string host = "127.0.0.1";  ///< Address or name to listen on.
  std::uint16_t port = 7777;       ///< 0 picks a free port (Server::port()).
  /// A listening TCP socket to serve instead of binding host and port (for
  /// example one a service manager passed). The server takes it over: it is
  /// made non-blocking, shared by every worker, and closed when the server
  /// is destroyed; the stop leaves it accepting into its queue, for a next
  /// owner. -1: bind host and port.
  int listen_fd = -1;
  /// serve() only: honour systemd's protocols when their variables are set
  /// (socket activation through LISTEN_FDS becomes listen_fd; readiness and
  /// the drain are reported over NOTIFY_SOCKET). framed-server sets it.
  bool systemd = false;
  /// The metrics endpoint (Prometheus text format 0.0.4 at /metrics, and
  /// /healthz: 200 while serving, 503 once the drain has begun), on a thread
  /// of the server's own; off unless `metrics` is set. Port 0 picks a free
  /// port (Server::metrics_port()).
  bool metrics = false;
  std::string metrics_host = "127.0.0.1";
  std::uint16_t metrics_port = 9100;
  /// A metrics request not answered this long after its connection was
  /// accepted is closed (a slow or stalled scraper).
  std::chrono::milliseconds metrics_timeout{5'000};
  /// A service's own metrics, served after the server's at /metrics (and
  /// by Server::metrics()): complete families in the text format 0.0.4,
  /// each name prefixed with the service's own. Called at every scrape on
  /// the endpoint's thread, so it reads only what is safe from there
  /// (atomics the loops store). Null: none.
  std::function<std::string()> metrics_extra;
  std::size_t max_conns = 1024;  ///< One limit across all workers.
  /// Of max_conns, the slots only outbound connections (Loop::connect) may
  /// take: accepted connections are refused (as at max_conns) once
  /// max_conns - outbound_reserve of them are open, so that clients can
  /// never take the slots a proxy needs toward its backends. 0 (the
  /// default): both share max_conns, first come, first served. Must be
  /// below max_conns.
  std::size_t outbound_reserve = 0;
  /// Connections one client may hold at once, across all workers; 0: no
  /// limit. A client is its IPv4 address, or its IPv6 address's /64; behind
  /// a PROXY header, the address the header names. A client over the limit
  /// is accepted and closed at once (after its PROXY header), counted in
  /// ServerCounters::refused_per_ip, and logged at warn at most once a
  /// second per client.
  std::size_t max_conns_per_ip = 0;
  std::chrono::milliseconds idle_timeout{60'000};   ///< 0 disables.
  std::chrono::milliseconds frame_timeout{30'000};  ///< 0 disables.
  std::chrono::milliseconds drain_timeout{5'000};
  /// A closing connection is closed once the peer has acknowledged all we
  /// sent or sent EOF; failing that, after linger_timeout without progress,
  /// or linger_time after the close began.
  std::chrono::milliseconds linger_timeout{5'000};
  std::chrono::milliseconds linger_time{30'000};
  std::uint32_t max_frame = kDefaultMaxFrame;  ///< Larger lengths close the connection.
  /// Pending output (Connection::pending_bytes()) at or above which a
  /// connection's input is no longer delivered or read: its memory stays
  /// within this cap plus what one callback sends plus one read.
  std::size_t backlog_cap = 256U << 10U;
  /// Flow control (Connection::writable(), Handler::on_drain): a connection
  /// stops being writable() when its pending output reaches high_water, and
  /// is writable again (on_drain) once that falls to low_water. Below
  /// backlog_cap, so that a handler can hold back before the server does.
  std::size_t high_water = 64U << 10U;
  std::size_t low_water = 16U << 10U;
  /// Bytes per read(2), into one buffer per worker; with io_uring, the size of
  /// each provided receive buffer.
  std::size_t read_chunk = 64U << 10U;
  Backend backend = Backend::automatic;
  /// io_uring: the provided receive buffers per worker (a power of two up to
  /// 32768), read_chunk bytes each; memory is taken only as the kernel
  /// writes into them. Fewer than the connections receiving at once only
  /// costs receives re-armed in turn, never data.
  unsigned uring_buffers = 128;
  std::size_t workers = 1;  ///< At least 1.
  /// serve() only: the process's log level (see set_log_level()).
  LogLevel log_level = LogLevel::info;
  /// serve() only: the process's log format (see set_log_format()).
  LogFormat log_format = LogFormat::text;
  /// The server's name in its start-up log line.
  std::string name = "framed-server";
  /// PROXY protocol (spec/PROXY.md): every connection must begin with a v1
  /// or v2 header, whose client address then names the connection in logs
  /// and in Connection::peer(). Only peers within proxy_from (CIDRs) may send
  /// one; others are closed at once. The header must be complete within
  /// proxy_timeout of the accept (0 disables, which a deployment should not).
  bool proxy_protocol = false;
  std::vector<std::string> proxy_from = {"127.0.0.0/8", "::1/128"};
  std::chrono::milliseconds proxy_timeout{3'000};
  /// TLS on every accepted connection (off by default).
  TlsOptions tls;
};

}  // namespace framed
