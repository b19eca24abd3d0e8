// TLS for framed::Client: OpenSSL over the client's own non-blocking socket
// (SSL_set_fd; the client waits with poll(2) itself). Built without
// OpenSSL (tls_stream_none.cc), tls_connect() refuses.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>

#include "framed/client.h"
#include "framed/error.h"

namespace framed::detail {

// What one read or write did.
struct TlsIo {
  std::size_t bytes = 0;
  bool eof = false;          // Read: the server's close_notify, or its FIN.
  bool would_block = false;  // Wait for `want` (POLLIN or POLLOUT), then retry.
  short want = 0;
  Error error;
};

// A session the server offered (a TLS 1.3 ticket or a TLS 1.2 session),
// kept to resume a later handshake. Owned by whoever took it: tls_session_free.
struct TlsSession;

// Handshakes over `fd` (connected, non-blocking) until `give_up`, offering
// `resume` (not taken; may be null) for an abbreviated handshake. Returns
// the stream (owned by the caller: tls_free) or null with `error` set.
TlsStream* tls_connect(int fd, const ClientTlsOptions& options, const std::string& host,
                       std::chrono::steady_clock::time_point give_up, Error& error,
                       const TlsSession* resume = nullptr);
void tls_free(TlsStream* s) noexcept;
// The stream's session, for a later tls_connect; null when the server has
// offered none yet (TLS 1.3 tickets arrive after the handshake, with the
// first read). Owned by the caller.
TlsSession* tls_take_session(TlsStream& s) noexcept;
void tls_session_free(TlsSession* session) noexcept;
// The handshake resumed an offered session.
bool tls_resumed(const TlsStream& s) noexcept;
TlsIo tls_read(TlsStream& s, std::span<std::byte> buf);
TlsIo tls_write(TlsStream& s, std::span<const std::byte> bytes);
// Decrypted bytes are waiting: a read returns them without the socket.
bool tls_buffered(const TlsStream& s) noexcept;
// Queues and tries to send close_notify (best effort).
void tls_close_notify(TlsStream& s) noexcept;

}  // namespace framed::detail
