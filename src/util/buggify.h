// BUGGIFY, after FoundationDB: fault points inside the core that make rare
// but legal paths common, compiled in only for the simulator (the core's
// sources are built a second time with FRAMED_SIM for framed_sim_lib). In
// every other build FRAMED_BUGGIFY(p) is the constant false and costs
// nothing.
//
// A point must only choose among behaviours the code must survive anyway:
// a read delivered in two parts, timers run a turn late, a registration
// that fails. Each point is enabled or not once per simulation run (by the
// seed), and when enabled fires with probability `p`.
#pragma once

#if defined(FRAMED_SIM) && FRAMED_SIM

namespace framed::sim {
// Defined by the simulator (sim/buggify.cc). `site` names the point.
bool buggify(double p, const char* site) noexcept;
}  // namespace framed::sim

#define FRAMED_BUGGIFY_STR2(x) #x
#define FRAMED_BUGGIFY_STR(x) FRAMED_BUGGIFY_STR2(x)
#define FRAMED_BUGGIFY(p) (::framed::sim::buggify((p), __FILE__ ":" FRAMED_BUGGIFY_STR(__LINE__)))

#else

#define FRAMED_BUGGIFY(p) false

#endif
