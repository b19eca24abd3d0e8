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

// Handshakes over `fd` (connected, non-blocking) until `give_up`. Returns
// the stream (owned by the caller: tls_free) or null with `error` set.
TlsStream* tls_connect(int fd, const ClientTlsOptions& options, const std::string& host,
                       std::chrono::steady_clock::time_point give_up, Error& error);
void tls_free(TlsStream* s) noexcept;
TlsIo tls_read(TlsStream& s, std::span<std::byte> buf);
TlsIo tls_write(TlsStream& s, std::span<const std::byte> bytes);
// Decrypted bytes are waiting: a read returns them without the socket.
bool tls_buffered(const TlsStream& s) noexcept;
// Queues and tries to send close_notify (best effort).
void tls_close_notify(TlsStream& s) noexcept;

}  // namespace framed::detail
