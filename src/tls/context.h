// The TLS settings every connection of a server shares: one OpenSSL
// SSL_CTX made from TlsOptions (certificate, key, client CA, versions,
// ciphers), checked whole when it is made so that a bad file is reported
// at start-up, never at the first handshake.
#pragma once

#include <memory>
#include <string>

#include "framed/server.h"

using SSL_CTX = struct ssl_ctx_st;
using SSL = struct ssl_st;

namespace framed::tls {

class Context {
 public:
  // The context for `options` (enabled), or null with `error` set to what
  // is wrong, naming the option and the file ("--tls-key k.pem: no such
  // file", "--tls-key k.pem does not match --tls-cert c.pem").
  static std::shared_ptr<Context> make(const TlsOptions& options, std::string& error);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // A new server-side session (in accept state), or null if OpenSSL could
  // not allocate one. The caller owns it (SSL_free).
  [[nodiscard]] SSL* new_session() const;
  [[nodiscard]] bool mutual() const noexcept { return mutual_; }

 private:
  explicit Context(SSL_CTX* ctx, bool mutual) : ctx_(ctx), mutual_(mutual) {}
  SSL_CTX* ctx_;
  bool mutual_;
};

// OpenSSL's oldest queued error as text ("certificate verify failed"), or
// `fallback` when it queued none; clears the thread's queue.
std::string last_error(const char* fallback);

}  // namespace framed::tls
