#include "tls/context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace framed::tls {

namespace {

// Mozilla's "intermediate" configuration (version 5.7), without the DHE
// suites (they need DH parameters, which framed does not load).
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kDefaultCiphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// A file the options name must be readable: its own error (no such file,
// permission denied) says more than OpenSSL's "system lib".
bool readable(const std::string& option, const std::string& path, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = option + " " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

}  // namespace

std::string last_error(const char* fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  const char* reason = ERR_reason_error_string(code);
  if (reason != nullptr) return reason;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::shared_ptr<Context> Context::make(const TlsOptions& options, std::string& error) {
  ERR_clear_error();
  int min_version = 0;
  if (options.min_version == "1.2") {
    min_version = TLS1_2_VERSION;
  } else if (options.min_version == "1.3") {
    min_version = TLS1_3_VERSION;
  } else {
    error = "--tls-min-version must be 1.2 or 1.3, not '" + options.min_version + "'";
    return nullptr;
  }
  if (options.key_file.empty()) {
    error = "--tls-cert needs --tls-key";
    return nullptr;
  }
  if (!readable("--tls-cert", options.cert_file, error) ||
      !readable("--tls-key", options.key_file, error) ||
      (!options.client_ca_file.empty() &&
       !readable("--tls-client-ca", options.client_ca_file, error))) {
    return nullptr;
  }
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) {
    error = "SSL_CTX_new: " + last_error("out of memory");
    return nullptr;
  }
  std::shared_ptr<Context> made(new Context(raw, !options.client_ca_file.empty()));
  SSL_CTX* ctx = made->ctx_;
  SSL_CTX_set_min_proto_version(ctx, min_version);
  // Renegotiation lets a client make the server redo the costliest work on
  // demand (CVE-2011-1473), and a frame service has no use for it.
  // Compression leaks plaintext lengths (CRIME). The server's cipher order
  // wins, so an operator's --tls-ciphers means what it says.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Read whole records per BIO read: the read BIO holds a socket's input
  // already, so asking for more costs nothing and saves calls.
  SSL_CTX_set_read_ahead(ctx, 1);
  // Tickets on (OpenSSL's default), and a session id context so that a
  // resumed session passes the client-certificate check it passed before.
  static const unsigned char kSessionContext[] = "framed";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  // Without a choice of the operator's, Mozilla's "intermediate" lists:
  // AEAD only, forward secrecy only, AES-128-GCM first. OpenSSL's own order
  // puts AES-256-GCM first, which costs 15% more per byte here (4.1 against
  // 4.75 GB/s a core) for no security a frame service needs.
  const std::string ciphers = options.ciphers.empty() ? kDefaultCiphers : options.ciphers;
  const std::string suites =
      options.ciphersuites.empty() ? kDefaultCiphersuites : options.ciphersuites;
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
    error = "--tls-ciphers '" + ciphers + "': " + last_error("no cipher matches");
    return nullptr;
  }
  if (SSL_CTX_set_ciphersuites(ctx, suites.c_str()) != 1) {
    error = "--tls-ciphersuites '" + suites + "': " + last_error("no suite matches");
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
    error = "--tls-cert " + options.cert_file + ": " + last_error("not a PEM certificate");
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the pair here already ("key values mismatch").
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      error = "--tls-key " + options.key_file + " does not match --tls-cert " + options.cert_file;
    } else {
      error = "--tls-key " + options.key_file + ": " + last_error("not a PEM private key");
    }
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    error = "--tls-key " + options.key_file + " does not match --tls-cert " + options.cert_file;
    return nullptr;
  }
  if (!options.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(), nullptr) != 1) {
      error =
          "--tls-client-ca " + options.client_ca_file + ": " + last_error("not a PEM certificate");
      return nullptr;
    }
    // The CA names sent in the CertificateRequest, so that a client with
    // several certificates picks the right one.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
    if (names == nullptr) {
      error =
          "--tls-client-ca " + options.client_ca_file + ": " + last_error("holds no certificate");
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
  return made;
}

Context::~Context() { SSL_CTX_free(ctx_); }

SSL* Context::new_session() const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl != nullptr) SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace framed::tls
