// A TLS client on one simulated connection (sim/rig.h), for the TLS tests
// and the TLS fuzzer: a real OpenSSL session that writes into a memory BIO
// the caller sends (cut into pieces as it likes), and reads from one filled
// with what the server wrote.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "sim/rig.h"

namespace framed::sim {

// Where the test certificates are (tests/tls/certs, set by the build).
inline const std::string kCerts = FRAMED_TLS_CERTS;

struct PeerOptions {
  std::string cert = {};  // Client certificate name in certs/ ("client"), or none.
  int max_version = TLS1_3_VERSION;
};

// A TLS client on one simulated connection: OpenSSL writes into a memory
// BIO that the test sends, and reads from one the test fills with what the
// server wrote.
//
// The client runs on the server's thread, which has one OpenSSL error queue
// for both: each of the client's calls is bracketed by ERR_set_mark() and
// ERR_pop_to_mark(), so that it removes its own errors and nothing of the
// server's. What the server leaves on the queue stays there for a test to
// see (ERR_peek_error()).
class TlsPeer {
 public:
  TlsPeer(Rig& rig, std::size_t id, const PeerOptions& o = {}) : rig_(rig), id_(id) {
    ERR_set_mark();
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    loaded_ = SSL_CTX_load_verify_locations(ctx_, (kCerts + "/ca.pem").c_str(), nullptr) == 1;
    if (!o.cert.empty()) {
      loaded_ = loaded_ &&
                SSL_CTX_use_certificate_file(ctx_, (kCerts + "/" + o.cert + ".pem").c_str(),
                                             SSL_FILETYPE_PEM) == 1 &&
                SSL_CTX_use_PrivateKey_file(ctx_, (kCerts + "/" + o.cert + ".key").c_str(),
                                            SSL_FILETYPE_PEM) == 1;
    }
    ssl_ = SSL_new(ctx_);
    from_server_ = BIO_new(BIO_s_mem());
    to_server_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, from_server_, to_server_);
    SSL_set_connect_state(ssl_);
    SSL_set1_host(ssl_, "localhost");
    ERR_pop_to_mark();
  }
  ~TlsPeer() {
    ERR_set_mark();
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ERR_pop_to_mark();
  }
  TlsPeer(const TlsPeer&) = delete;
  TlsPeer& operator=(const TlsPeer&) = delete;

  // Sends what the client wrote (in pieces of `piece` bytes, the server
  // turning between them), then hands it what the server wrote.
  // The size of the next piece the client's output is cut into (default:
  // `piece` below, the same every time).
  std::function<std::size_t()> next_piece;

  void pump(std::size_t piece = SIZE_MAX, bool read_server = true) {
    for (int round = 0; round < 100; ++round) {
      std::vector<std::byte> out(1 << 16);
      const int n = BIO_read(to_server_, out.data(), static_cast<int>(out.size()));
      bool moved = false;
      if (n > 0) {
        moved = true;
        for (std::size_t at = 0; at < static_cast<std::size_t>(n);) {
          const std::size_t want = next_piece ? std::max<std::size_t>(1, next_piece()) : piece;
          const std::size_t k = std::min(want, static_cast<std::size_t>(n) - at);
          const auto took = rig_.net().peer_send(id_, std::span(out).subspan(at, k));
          short_sends_ += k - took;  // The server closed (or its queue is full).
          at += k;
          rig_.settle();
        }
      }
      rig_.settle();
      if (!read_server) {
        if (n <= 0) return;
        continue;  // Everything the client wrote goes out; nothing is read.
      }
      const auto in = rig_.read_all(id_);
      if (!in.empty()) {
        moved = true;
        received_ += in.size();
        BIO_write(from_server_, in.data(), static_cast<int>(in.size()));
      }
      if (!moved) return;
    }
  }

  // Runs the handshake to its end. Returns whether it succeeded.
  bool handshake(std::size_t piece = SIZE_MAX) {
    for (int i = 0; i < 50; ++i) {
      ERR_set_mark();
      const int r = SSL_do_handshake(ssl_);
      const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
      ERR_pop_to_mark();
      if (r == 1) {
        pump(piece);
        return true;
      }
      if (e != SSL_ERROR_WANT_READ) return false;
      const auto before = received_;
      pump(piece);
      if (received_ == before && BIO_pending(to_server_) == 0) return false;
    }
    return false;
  }

  // Returns whether OpenSSL took every byte.
  bool write(const std::vector<std::byte>& bytes) {
    std::size_t done = 0;
    ERR_set_mark();
    const bool ok = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &done) == 1;
    ERR_pop_to_mark();
    pump();
    return ok && done == bytes.size();
  }

  // Everything the server sent that decrypts now; `status` is the last
  // SSL_get_error (SSL_ERROR_ZERO_RETURN once close_notify came).
  std::vector<std::byte> read(int* status = nullptr) {
    pump();
    std::vector<std::byte> all;
    int last = SSL_ERROR_NONE;
    ERR_set_mark();
    for (;;) {
      std::byte buf[16384];
      std::size_t got = 0;
      if (SSL_read_ex(ssl_, buf, sizeof buf, &got) != 1) {
        last = SSL_get_error(ssl_, 0);
        if (const unsigned long e = ERR_peek_last_error(); e != 0) {
          const char* why = ERR_reason_error_string(e);
          reason_ = why != nullptr ? why : "?";
        }
        break;
      }
      all.insert(all.end(), buf, buf + got);
    }
    ERR_pop_to_mark();
    if (status != nullptr) *status = last;
    return all;
  }

  [[nodiscard]] SSL* ssl() const noexcept { return ssl_; }
  // The CA (and the client certificate, if any) loaded.
  [[nodiscard]] bool loaded() const noexcept { return loaded_; }

 private:
  Rig& rig_;
  std::size_t id_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* from_server_ = nullptr;
  BIO* to_server_ = nullptr;
  std::size_t received_ = 0;
  bool loaded_ = false;

 public:
  std::size_t short_sends_ = 0;  // Bytes the server's side did not take.
  std::string reason_;           // OpenSSL's reason for the last failed read.
};

}  // namespace framed::sim
