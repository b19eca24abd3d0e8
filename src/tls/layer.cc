#include "tls/layer.h"

#include "tls/context.h"
#include "tls/tls_transport.h"

namespace framed {

bool tls_supported() noexcept { return true; }

namespace tls {

std::shared_ptr<ContextSlot> make_slot(const TlsOptions& options, std::string& error) {
  auto first = Context::make(options, error);
  if (!first) return nullptr;
  return std::make_shared<ContextSlot>(std::move(first));
}

bool reload(ContextSlot& slot, const TlsOptions& options, std::string& error) {
  auto next = Context::make(options, error);
  if (!next) return false;
  slot.set(std::move(next));
  return true;
}

std::unique_ptr<transport::Transport> make_layer(std::shared_ptr<ContextSlot> slot,
                                                 transport::Sink& sink, const MakeInner& make_inner,
                                                 bool proxy_first, std::string& error) {
  auto layer = std::make_unique<TlsTransport>(std::move(slot), sink, proxy_first);
  auto inner = make_inner(*layer, error);
  if (!inner) return nullptr;
  layer->set_inner(std::move(inner));
  return layer;
}

}  // namespace tls
}  // namespace framed
