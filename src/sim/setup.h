// What a simulation seed draws before it runs: the server's options, the
// network's faults, the peers' number, when the drain comes, and the
// service the server runs (an echo of chunks or of frames, or a reply
// larger than the request). sim/simulation.cc runs it and judges it.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "framed/server.h"
#include "sim/oracle.h"
#include "sim/rng.h"
#include "sim/sim_transport.h"

namespace framed::sim {

struct Setup {
  ServerOptions server;
  SimOptions net;
  Service service = Service::echo_chunks;
  Delivery reply_delivery = Delivery::frames;
  std::vector<std::byte> reply;
  std::size_t peers = 1;
  std::chrono::milliseconds drain_at{0};
  std::vector<std::chrono::milliseconds> accept_failures;
  std::vector<int> accept_errors;
};

// Draws a setup from `rng` (the seed's first draws).
Setup draw_setup(Rng& rng);
// One line naming what `s` drew, for the trace and a failure's report.
std::string describe(const Setup& s);
// The handlers of the service `s` runs; null for the echo of chunks (the
// server's own). The factory refers to `s`, which must outlive it.
HandlerFactory service_handlers(const Setup& s);

}  // namespace framed::sim
