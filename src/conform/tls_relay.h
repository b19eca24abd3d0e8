// framed-conform --tls: every case speaks plain bytes on a local socket, and
// a relay thread per connection carries them over one TLS connection to
// the server under test, so that the whole suite runs unchanged over TLS.
//
// What the relay keeps: the order and the content of the bytes each way,
// writes as the case cut them (each read from the case becomes one TLS
// write, so a split still reaches the server as its own record), the
// case's half-close (close_notify, then a FIN), and the server's close
// (the case reads EOF after the last byte, and its writes then fail). What
// it cannot keep: a reset looks like an orderly close to the case, and the
// relay's buffers (bounded, 256 KiB each way) add to the kernel's, so a
// server's backpressure shows a little later.
#pragma once

#include <chrono>
#include <string>

#include "framed/client.h"
#include "net/fd.h"

namespace framed::conform {

// TLS for every connection of this run; call once, before any case runs.
void set_tls(const ClientTlsOptions& options);
[[nodiscard]] bool tls_on() noexcept;

// Handshakes over `server` (connected, non-blocking) with the options of
// set_tls() and `host` as the name to verify (unless they give one), then
// returns the case's end of a relay to it; invalid with `error` set if the
// handshake fails or `timeout` passes.
net::UniqueFd relay_tls(net::UniqueFd server, const std::string& host,
                        std::chrono::milliseconds timeout, std::string& error);

// Ends every relay (within 100 ms) and joins its thread: call once the
// cases are done, before the program exits.
void stop_relays();

}  // namespace framed::conform
