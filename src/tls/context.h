// The TLS settings every connection of a server shares: one OpenSSL
// SSL_CTX made from TlsOptions (certificate, key, client CA, versions,
// ciphers), checked whole when it is made so that a bad file is reported
// at start-up, never at the first handshake.
#pragma once

#include <memory>
#include <mutex>
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

// The context new connections get, shared by every worker of a server and
// replaced by a reload (SIGHUP). A session keeps the context it began with:
// OpenSSL counts its references, so a replaced context lives on until its
// last session ends.
class ContextSlot {
 public:
  explicit ContextSlot(std::shared_ptr<const Context> first) : current_(std::move(first)) {}
  // The context for a connection accepted now. (A lock per accept, never
  // per frame; a reload holds it only to swap a pointer.)
  [[nodiscard]] std::shared_ptr<const Context> get() const {
    const std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const Context> next) {
    const std::lock_guard lock(mutex_);
    current_.swap(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Context> current_;
};

// OpenSSL's oldest queued error as text ("certificate verify failed"), or
// `fallback` when it queued none; clears the thread's queue.
std::string last_error(const char* fallback);

}  // namespace framed::tls
