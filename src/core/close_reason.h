// Why a connection's close began: one value per connection, set by the
// first close (later steps of the same close keep it), and counted per
// reason when the connection is gone (framed_connections_closed_total).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace framed::core {

enum class CloseReason : std::uint8_t {
  none,               // Not closing (or a later step of a close already begun).
  eof,                // The peer ended its input between frames.
  truncated,          // The peer ended its input in the middle of a frame.
  idle,               // --idle-timeout.
  frame_timeout,      // --frame-timeout.
  proxy_timeout,      // --proxy-timeout.
  handshake_timeout,  // --tls-handshake-timeout.
  oversize,           // A length over --max-frame.
  proxy_error,        // A bad PROXY header.
  tls,                // The TLS layer failed (a bad record, a refused handshake).
  reset,              // The peer reset the connection (ECONNRESET, EPIPE).
  io_error,           // Another socket or backend failure.
  drain,              // The server's drain closed it.
  drain_timeout,      // The drain's timeout cut it.
  handler,            // The handler closed it (Connection::close()).
  per_ip,             // Over --max-conns-per-ip (after its PROXY header).
  stopped,            // The worker stopped (abort, destruction).
};

inline constexpr std::size_t kCloseReasons = static_cast<std::size_t>(CloseReason::stopped) + 1;

// The label a reason has in the metrics: "eof", "frame-timeout", ...
// ("other" for none).
[[nodiscard]] constexpr std::string_view to_string(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::none: return "other";
    case CloseReason::eof: return "eof";
    case CloseReason::truncated: return "truncated";
    case CloseReason::idle: return "idle";
    case CloseReason::frame_timeout: return "frame-timeout";
    case CloseReason::proxy_timeout: return "proxy-timeout";
    case CloseReason::handshake_timeout: return "handshake-timeout";
    case CloseReason::oversize: return "oversize";
    case CloseReason::proxy_error: return "proxy-error";
    case CloseReason::tls: return "tls";
    case CloseReason::reset: return "reset";
    case CloseReason::io_error: return "io-error";
    case CloseReason::drain: return "drain";
    case CloseReason::drain_timeout: return "drain-timeout";
    case CloseReason::handler: return "handler";
    case CloseReason::per_ip: return "per-ip";
    case CloseReason::stopped: return "stopped";
  }
  return "other";
}

}  // namespace framed::core
