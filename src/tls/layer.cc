#include "tls/layer.h"

#include "tls/context.h"
#include "tls/tls_transport.h"

namespace framed {

bool tls_supported() noexcept { return true; }

namespace tls {

std::shared_ptr<const Context> make_context(const TlsOptions& options, std::string& error) {
  return Context::make(options, error);
}

std::unique_ptr<transport::Transport> make_layer(std::shared_ptr<const Context> context,
                                                 transport::Sink& sink, const MakeInner& make_inner,
                                                 bool proxy_first, std::string& error) {
  auto layer = std::make_unique<TlsTransport>(std::move(context), sink, proxy_first);
  auto inner = make_inner(*layer, error);
  if (!inner) return nullptr;
  layer->set_inner(std::move(inner));
  return layer;
}

}  // namespace tls
}  // namespace framed
