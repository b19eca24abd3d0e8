/// @file
/// framed::Error: what the library returns when something could not be done.
#pragma once

#include <cstdint>
#include <string>

namespace framed {

/// What kind of failure an Error is, for code that reacts to it; the
/// message is for people.
enum class Errc : std::uint8_t {
  other,             ///< Anything not named below (a server that cannot start).
  invalid_argument,  ///< The call itself was wrong (not connected, a bad option).
  resolve,           ///< A host name did not resolve (the resolver's words).
  connect,           ///< Refused, unreachable, or another connect(2) failure.
  timed_out,         ///< Nothing (or not enough) happened in the time given.
  closed,            ///< The peer closed the connection (EOF).
  reset,             ///< The connection was reset or broke (ECONNRESET, EPIPE).
  protocol,          ///< The peer broke the framing (a frame above the limit).
  io,                ///< Another system call failed.
  tls,               ///< The TLS handshake failed, or the peer broke TLS.
};

/// Empty (false) when the call succeeded; otherwise why not.
struct Error {
  std::string message;  ///< "cannot listen on 127.0.0.1 port 80: Permission denied"
  Errc code = Errc::other;
  explicit operator bool() const noexcept { return !message.empty(); }
};

}  // namespace framed
