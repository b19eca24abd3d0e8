// One seeded simulation run: a worker (the real Worker, Acceptor, Conn and
// EventLoop) over the simulated transport and clock, peers drawn from the
// seed, a drain at a seeded instant, fault points and accept failures, and
// the oracle of spec §6 checked at every step. The same seed gives the same
// run, event for event: the trace's hash proves it.
//
//   const sim::Outcome o = sim::run(42);
//   if (!o.ok()) std::puts(o.violations.front().c_str());
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace framed::sim {

struct RunOptions {
  bool keep_trace = false;  // Keep every trace line (else only the hash).
};

struct Outcome {
  std::uint64_t seed = 0;
  std::vector<std::string> violations;  // Empty: the run obeyed the spec.
  std::uint64_t trace_hash = 0;         // FNV-1a of every trace line.
  std::vector<std::string> trace;       // With keep_trace.
  std::string setup;                    // The configuration the seed drew.
  std::uint64_t steps = 0;
  std::uint64_t buggified = 0;  // Fault points that fired.
  [[nodiscard]] bool ok() const noexcept { return violations.empty(); }
};

Outcome run(std::uint64_t seed, const RunOptions& options = {});

}  // namespace framed::sim
