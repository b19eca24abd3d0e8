#include "core/conn_table.h"

namespace framed::core {

Conn& ConnTable::create(Context& ctx, transport::Socket& socket, std::string peer) {
  return create(ctx, socket, std::move(peer), reserve_id(), nullptr);
}

Conn& ConnTable::create(Context& ctx, transport::Socket& socket, std::string peer, std::uint64_t id,
                        std::unique_ptr<Handler> own) {
  std::size_t slot = 0;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = slots_.size();
    slots_.emplace_back();
  }
  slots_[slot] = std::make_unique<Conn>(ctx, socket, id, slot, std::move(peer), std::move(own));
  slot_of_[id] = slot;
  ++count_;
  return *slots_[slot];
}

void ConnTable::release(Conn& c) {
  const std::size_t slot = c.slot();
  if (slot >= slots_.size() || slots_[slot].get() != &c) return;
  slot_of_.erase(c.id());
  released_.push_back(std::move(slots_[slot]));
  free_.push_back(slot);
  --count_;
}

Conn* ConnTable::find(std::uint64_t id) const noexcept {
  const auto it = slot_of_.find(id);
  return it == slot_of_.end() ? nullptr : slots_[it->second].get();
}

}  // namespace framed::core
