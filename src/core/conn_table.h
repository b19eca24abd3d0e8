// The connections of one worker: a slot each, an id each (unique across
// the server's workers, never reused), lookup by id, iteration. A connection released
// (closed) leaves its slot and its id at once but stays allocated until
// collect(), at the end of the loop's turn, so that code still holding a
// reference in this turn (a caller up the stack, the dirty list) never
// sees it vanish.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/conn.h"

namespace framed::core {

class ConnTable {
 public:
  // The table of worker `index` of `workers`: its ids are index + k *
  // workers (k >= 1), so no two workers share one and id % workers names
  // the worker.
  explicit ConnTable(std::size_t index = 0, std::size_t workers = 1) noexcept
      : next_id_(workers + index), stride_(workers) {}

  // Creates a connection on `socket` named `peer` in a free slot, with the
  // next id. The table owns it.
  Conn& create(Context& ctx, transport::Socket& socket, std::string peer);
  // The same, with an id taken earlier from reserve_id() and the handler
  // of an outbound connection (owned by the connection).
  Conn& create(Context& ctx, transport::Socket& socket, std::string peer, std::uint64_t id,
               std::unique_ptr<Handler> own);
  // Takes the next id for a connection still to be made (an outbound one).
  std::uint64_t reserve_id() noexcept {
    const std::uint64_t id = next_id_;
    next_id_ += stride_;
    return id;
  }
  // Takes `c` out of its slot and the id index (on close).
  void release(Conn& c);
  // Frees the connections released since the last call.
  void collect() noexcept { released_.clear(); }

  // The open connection with this id, or null.
  [[nodiscard]] Conn* find(std::uint64_t id) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }

  // Calls `f(Conn&)` for every connection in a slot, in slot order. `f` may
  // close connections (a closed one is skipped) but should not rely on
  // seeing connections created meanwhile.
  template <typename F>
  void for_each(F&& f) {
    for (std::size_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s]) f(*slots_[s]);
    }
  }

 private:
  std::vector<std::unique_ptr<Conn>> slots_;
  std::vector<std::size_t> free_;
  std::unordered_map<std::uint64_t, std::size_t> slot_of_;
  std::vector<std::unique_ptr<Conn>> released_;
  std::size_t count_ = 0;
  std::uint64_t next_id_;
  std::uint64_t stride_;
};

}  // namespace framed::core
