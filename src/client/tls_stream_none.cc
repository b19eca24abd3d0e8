// This build has no TLS (OpenSSL 3 was not found when it was configured).
#include "client/tls_stream.h"

namespace framed {
bool Client::tls_supported() noexcept { return false; }
}  // namespace framed

namespace framed::detail {

struct TlsStream {};
struct TlsSession {};

TlsStream* tls_connect(int /*fd*/, const ClientTlsOptions& /*options*/, const std::string& /*host*/,
                       std::chrono::steady_clock::time_point /*give_up*/, Error& error,
                       const TlsSession* /*resume*/) {
  error = {"TLS is not available: this framed was built without OpenSSL 3", Errc::invalid_argument};
  return nullptr;
}
void tls_free(TlsStream* s) noexcept { delete s; }
TlsSession* tls_take_session(TlsStream& /*s*/) noexcept { return nullptr; }
void tls_session_free(TlsSession* session) noexcept { delete session; }
bool tls_resumed(const TlsStream& /*s*/) noexcept { return false; }
TlsIo tls_read(TlsStream& /*s*/, std::span<std::byte> /*buf*/) { return {}; }
TlsIo tls_write(TlsStream& /*s*/, std::span<const std::byte> /*bytes*/) { return {}; }
bool tls_buffered(const TlsStream& /*s*/) noexcept { return false; }
void tls_close_notify(TlsStream& /*s*/) noexcept {}

}  // namespace framed::detail
