// This build has no TLS (OpenSSL 3 was not found when it was configured).
#include "tls/layer.h"

namespace framed {

bool tls_supported() noexcept { return false; }

namespace tls {

std::shared_ptr<ContextSlot> make_slot(const TlsOptions& /*options*/, std::string& error) {
  error = "TLS is not available: this framed was built without OpenSSL 3 (libssl-dev)";
  return nullptr;
}

bool reload(ContextSlot& /*slot*/, const TlsOptions& /*options*/, std::string& error) {
  error = "TLS is not available in this build";
  return false;
}

std::unique_ptr<transport::Transport> make_layer(std::shared_ptr<ContextSlot> /*slot*/,
                                                 transport::Sink& /*sink*/,
                                                 const MakeInner& /*make_inner*/,
                                                 bool /*proxy_first*/, std::string& error) {
  error = "TLS is not available in this build";
  return nullptr;
}

}  // namespace tls
}  // namespace framed
