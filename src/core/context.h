// What every connection of one worker shares: the settings, the loop and
// its transport, the handler, the counters, the table, and the scratch of
// the send batch. One per worker, owned by it; connections refer to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/conn_limit.h"
#include "core/counters.h"
#include "framed/server.h"
#include "loop/event_loop.h"
#include "transport/transport.h"

namespace framed::core {

class Conn;
class ConnTable;

// The echo gathered while one connection's input is delivered: views of the
// input where the handler sends bytes that lie there (so an echo costs no
// copy), staged copies otherwise, written by one send when the input is
// done. Reused across inputs, so the hot path does not allocate.
struct Batch {
  struct Piece {
    const std::byte* data;  // Into the input, or null: staged.
    std::size_t offset;     // Into stage, when staged.
    std::size_t size;
  };
  Conn* conn = nullptr;              // Whose input is being delivered.
  std::span<const std::byte> input;  // Bytes that may be sent by view.
  std::vector<Piece> pieces;
  std::vector<std::byte> stage;
  std::size_t bytes = 0;                          // Gathered so far.
  std::vector<std::span<const std::byte>> spans;  // The send's iovecs.

  void clear() noexcept {
    pieces.clear();
    stage.clear();
    bytes = 0;
  }
};

struct Context {
  Context(const ServerOptions& c, loop::EventLoop& l, transport::Transport& t, Counters& n,
          ConnLimit& m, ConnTable& tbl, framed::Loop& a)
      : config(c), loop(l), io(t), counters(n), limit(m), table(tbl), api(a) {}

  const ServerOptions& config;
  loop::EventLoop& loop;
  transport::Transport& io;
  Counters& counters;
  ConnLimit& limit;
  ConnTable& table;
  framed::Loop& api;  // The handler's view of this worker.
  Handler* handler = nullptr;
  bool shutting_down = false;  // The drain has begun: new connections close.
  // The listener came from systemd (socket activation), which keeps it open
  // for the next instance: the stop leaves it as it is for them.
  bool listener_inherited = false;
  Batch batch;
  // Connections a handler wrote to or closed outside their own input,
  // flushed once the callback returns (see Conn::process_dirty).
  std::vector<Conn*> dirty;
};

}  // namespace framed::core
