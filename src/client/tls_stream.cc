#include "client/tls_stream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

namespace framed {
bool Client::tls_supported() noexcept { return true; }
}  // namespace framed

namespace framed::detail {

struct TlsSession {
  SSL_SESSION* session = nullptr;
  ~TlsSession() { SSL_SESSION_free(session); }
};

struct TlsStream {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~TlsStream() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
};

namespace {

using Clock = std::chrono::steady_clock;

std::string reason(const char* fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  const char* r = ERR_reason_error_string(code);
  return r != nullptr ? r : fallback;
}

bool wait_fd(int fd, short events, Clock::time_point give_up) {
  pollfd p{fd, events, 0};
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(give_up - Clock::now());
    const int ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, INT_MAX));
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

// Makes the stream's context from the options; returns why not.
std::string configure(SSL_CTX* ctx, const ClientTlsOptions& o) {
  SSL_CTX_set_min_proto_version(ctx, o.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (o.min_version != "1.2" && o.min_version != "1.3") {
    return "the TLS minimum version must be 1.2 or 1.3, not '" + o.min_version + "'";
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // OpenSSL 3 reports a FIN without close_notify as an error; the framing
  // judges a truncation (spec §7.5), so it is an EOF here.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  const int loaded = o.ca_file.empty()
                         ? SSL_CTX_set_default_verify_paths(ctx)
                         : SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return "--tls-ca " + (o.ca_file.empty() ? std::string("(the system's)") : o.ca_file) + ": " +
           reason("cannot load the CA certificates");
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return "a client certificate needs both --tls-cert and --tls-key";
  }
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
      return "--tls-cert " + o.cert_file + ": " + reason("not a PEM certificate");
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return "--tls-key " + o.key_file + ": " + reason("not a PEM private key");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      return "--tls-key " + o.key_file + " does not match --tls-cert " + o.cert_file;
    }
  }
  return {};
}

}  // namespace

TlsStream* tls_connect(int fd, const ClientTlsOptions& options, const std::string& host,
                       Clock::time_point give_up, Error& error, const TlsSession* resume) {
  ERR_clear_error();
  auto s = std::make_unique<TlsStream>();
  s->ctx = SSL_CTX_new(TLS_client_method());
  if (s->ctx == nullptr) {
    error = {"SSL_CTX_new: " + reason("out of memory"), Errc::tls};
    return nullptr;
  }
  if (std::string why = configure(s->ctx, options); !why.empty()) {
    error = {why, Errc::invalid_argument};
    return nullptr;
  }
  s->ssl = SSL_new(s->ctx);
  if (s->ssl == nullptr || SSL_set_fd(s->ssl, fd) != 1) {
    error = {"SSL_new: " + reason("out of memory"), Errc::tls};
    return nullptr;
  }
  const std::string& name = options.server_name.empty() ? host : options.server_name;
  // An address is checked against the certificate's IP names, and is not
  // sent as SNI (RFC 6066 forbids it); a name is both.
  in6_addr any{};
  const bool literal = ::inet_pton(AF_INET, name.c_str(), &any) == 1 ||
                       ::inet_pton(AF_INET6, name.c_str(), &any) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(s->ssl);
  if (literal) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    SSL_set_tlsext_host_name(s->ssl, name.c_str());
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
  }
  // A session from another context of the same method is accepted: the
  // server decides whether it resumes.
  if (resume != nullptr && resume->session != nullptr) {
    SSL_set_session(s->ssl, resume->session);
  }
  for (;;) {
    const int r = SSL_connect(s->ssl);
    if (r == 1) return s.release();
    const int e = SSL_get_error(s->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, give_up)) {
        error = {"the TLS handshake timed out", Errc::timed_out};
        return nullptr;
      }
      continue;
    }
    const long verify = SSL_get_verify_result(s->ssl);
    std::string why =
        verify != X509_V_OK
            ? std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify)
            : reason(e == SSL_ERROR_SYSCALL ? "the server closed the connection"
                                            : "the handshake failed");
    ERR_clear_error();
    error = {"TLS handshake with " + name + " failed: " + why, Errc::tls};
    return nullptr;
  }
}

void tls_free(TlsStream* s) noexcept { delete s; }

TlsSession* tls_take_session(TlsStream& s) noexcept {
  SSL_SESSION* session = SSL_get1_session(s.ssl);
  if (session == nullptr) return nullptr;
  if (SSL_SESSION_is_resumable(session) != 1) {
    SSL_SESSION_free(session);
    return nullptr;
  }
  auto* out = new (std::nothrow) TlsSession;
  if (out == nullptr) {
    SSL_SESSION_free(session);
    return nullptr;
  }
  out->session = session;
  return out;
}

void tls_session_free(TlsSession* session) noexcept { delete session; }

bool tls_resumed(const TlsStream& s) noexcept { return SSL_session_reused(s.ssl) == 1; }

namespace {

TlsIo failed(SSL* ssl, int r, const char* call) {
  TlsIo io;
  const int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    io.would_block = true;
    io.want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
  } else if (e == SSL_ERROR_ZERO_RETURN) {
    io.eof = true;
  } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    // The socket failed (errno), or the server closed without
    // close_notify: a truncation, which the framing judges (spec §7).
    if (errno == 0 || errno == EAGAIN) {
      io.eof = true;
    } else {
      io.error = {std::string(call) + ": " + std::strerror(errno),
                  errno == ECONNRESET || errno == EPIPE ? Errc::reset : Errc::io};
    }
  } else {
    io.error = {std::string(call) + ": " + reason("TLS failed"), Errc::tls};
  }
  ERR_clear_error();
  return io;
}

}  // namespace

TlsIo tls_read(TlsStream& s, std::span<std::byte> buf) {
  std::size_t got = 0;
  errno = 0;
  ERR_clear_error();
  const int r = SSL_read_ex(s.ssl, buf.data(), buf.size(), &got);
  if (r == 1) return {got, false, false, 0, {}};
  return failed(s.ssl, r, "TLS read");
}

TlsIo tls_write(TlsStream& s, std::span<const std::byte> bytes) {
  if (bytes.empty()) return {};
  std::size_t done = 0;
  errno = 0;
  ERR_clear_error();
  // Partial writes: a large frame goes out as the socket takes it.
  SSL_set_mode(s.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  const int r = SSL_write_ex(s.ssl, bytes.data(), bytes.size(), &done);
  if (r == 1) return {done, false, false, 0, {}};
  return failed(s.ssl, r, "TLS write");
}

bool tls_buffered(const TlsStream& s) noexcept { return SSL_pending(s.ssl) > 0; }

void tls_close_notify(TlsStream& s) noexcept {
  (void)SSL_shutdown(s.ssl);
  ERR_clear_error();
}

}  // namespace framed::detail
