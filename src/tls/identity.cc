#include "tls/identity.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdio>

namespace framed::tls {

bool verified_peer(SSL* ssl, std::string& subject, std::vector<std::string>& names) {
  // Only a certificate that was verified (mutual TLS) names anyone.
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return false;
  BIO* text = BIO_new(BIO_s_mem());
  if (text == nullptr) return false;
  X509_NAME_print_ex(text, X509_get_subject_name(cert), 0,
                     XN_FLAG_RFC2253 & ~XN_FLAG_DN_REV & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long n = BIO_get_mem_data(text, &data);
  subject.assign(data, static_cast<std::size_t>(n > 0 ? n : 0));
  BIO_free(text);
  names.clear();
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      int type = 0;
      const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(g, &type));
      if (type == GEN_DNS || type == GEN_EMAIL || type == GEN_URI) {
        const char* prefix = type == GEN_DNS ? "DNS:" : type == GEN_EMAIL ? "email:" : "URI:";
        names.push_back(prefix +
                        std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                    static_cast<std::size_t>(ASN1_STRING_length(value))));
      } else if (type == GEN_IPADD) {
        char ip[64] = "?";
        const int len = ASN1_STRING_length(value);
        const unsigned char* b = ASN1_STRING_get0_data(value);
        if (len == 4) {
          std::snprintf(ip, sizeof ip, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        } else if (len == 16) {
          (void)inet_ntop(AF_INET6, b, ip, sizeof ip);
        }
        names.push_back(std::string("IP:") + ip);
      }
    }
    GENERAL_NAMES_free(sans);
  }
  ERR_clear_error();
  return true;
}

}  // namespace framed::tls
