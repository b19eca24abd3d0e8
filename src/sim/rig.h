// One worker (the real Worker, Acceptor, Conn and EventLoop) on a
// SimTransport and a ManualClock, driven a step at a time: what the unit
// tests of the timing rules and the simulator both stand on.
//
//   sim::Rig rig(options);
//   const auto c = rig.net().connect();
//   rig.settle();                      // accepted
//   rig.net().peer_send(c, bytes);
//   rig.settle();                      // read and echoed
//   rig.advance(60s);                  // timers fire on the way
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/conn_limit.h"
#include "framed/server.h"
#include "loop/clock.h"
#include "server/worker.h"
#include "sim/sim_transport.h"

namespace framed::sim {

class Rig {
 public:
  // A worker serving `config` with the handler `make` gives (null: an
  // echo of every chunk, as framed-server), listening, with `rng` (may be
  // null) deciding the transport's splits and faults.
  Rig(const ServerOptions& config, Rng* rng = nullptr, SimOptions sim = {},
      const HandlerFactory& make = nullptr);
  ~Rig();
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  [[nodiscard]] SimTransport& net() noexcept { return *net_; }
  [[nodiscard]] server::Worker& worker() noexcept { return *worker_; }
  [[nodiscard]] loop::ManualClock& clock() noexcept { return clock_; }
  [[nodiscard]] const core::ConnLimit& limit() const noexcept { return limit_; }
  [[nodiscard]] const ServerOptions& config() const noexcept { return config_; }

  // One turn of the worker's loop. Returns false once the worker is done
  // (drained, or exiting).
  bool turn();
  // Turns until nothing is ready and no timer is due now (bounded).
  void settle();
  // Moves the clock forward by `d`, stopping at every timer on the way
  // and settling there, as a real loop would see them fire.
  void advance(loop::Duration d);
  // The time of the worker's next timer, or TimePoint::max().
  [[nodiscard]] loop::TimePoint next_timer() noexcept;
  // SIGINT, as the server delivers it: the drain is due to end
  // drain_timeout from now.
  void begin_shutdown();
  [[nodiscard]] bool done() const noexcept { return done_; }
  [[nodiscard]] int exit_code() const noexcept { return rc_; }

  // Everything the server logged since the last take (one line each, level
  // first, no timestamps).
  [[nodiscard]] std::vector<std::string> take_log();
  [[nodiscard]] bool logged(const std::string& needle) const;

  // Every peer receives what the server sent (up to its queue) and reads it
  // all: a peer that always reads. Returns the bytes read per connection.
  void deliver_all();
  std::vector<std::byte> read_all(std::size_t id);

 private:
  ServerOptions config_;
  loop::ManualClock clock_;
  core::ConnLimit limit_;
  std::unique_ptr<server::Worker> worker_;
  SimTransport* net_ = nullptr;
  bool done_ = false;
  int rc_ = 0;
  std::vector<std::string> log_;
};

}  // namespace framed::sim
