// floor-stall: the least delay any thread on this machine can promise to
// react within, the floor of bench/post_probe.sh's post() figures. One
// thread does nothing but read the monotonic clock for DURATION; every step
// between two readings longer than 2 µs is a stall (the thread did not
// run: an interrupt, the kernel, or, on a virtual machine, the host taking
// the CPU away). A task posted at a random instant to a loop that reacts at
// once whenever it runs still waits out the rest of the stall it fell in:
// the figures are that wait's percentiles, computed from the stalls seen.
//   floor-stall [--duration DUR]   (default 5s)
// Run it on an otherwise idle machine (or pinned with taskset beside the
// load); load can only lengthen the stalls.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include "framed/parse.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::int64_t kStallNs = 2'000;

// The wait at a random instant that is exceeded with probability `p`:
// the x at which the stalls' time beyond x, summed, is p of the run.
double residual_us(const std::vector<std::int64_t>& stalls, double total_ns, double p) {
  double lo = 0;
  double hi = stalls.empty() ? 0 : static_cast<double>(stalls.back());
  for (int i = 0; i < 64; ++i) {
    const double mid = (lo + hi) / 2;
    double beyond = 0;
    for (auto it = stalls.rbegin(); it != stalls.rend() && static_cast<double>(*it) > mid; ++it) {
      beyond += static_cast<double>(*it) - mid;
    }
    (beyond / total_ns > p ? lo : hi) = mid;
  }
  return hi / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  std::chrono::milliseconds duration{5000};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf(
          "Usage: floor-stall [--duration DUR]\n\n"
          "Reads the monotonic clock in a tight loop for DUR (default 5s) and\n"
          "reports how long a thread that reacts at once whenever it runs still\n"
          "waits at a random instant (p50, p99, p99.9): the stalls this machine\n"
          "imposes on any event loop. Exit status: 0, or 2 on bad usage.\n");
      return 0;
    }
    if (arg == "--duration" && i + 1 < argc) {
      const auto d = framed::parse_duration(argv[++i]);
      if (!d || d->count() <= 0) {
        std::fprintf(stderr,
                     "floor-stall: invalid value '%s' for --duration: expected a "
                     "duration such as 5s\n",
                     argv[i]);
        return 2;
      }
      duration = *d;
      continue;
    }
    std::fprintf(stderr, "floor-stall: unknown option '%s' (try --help)\n", argv[i]);
    return 2;
  }

  std::vector<std::int64_t> stalls;
  stalls.reserve(1U << 20U);
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + duration;
  Clock::time_point last = start;
  for (;;) {
    const Clock::time_point now = Clock::now();
    const std::int64_t step =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - last).count();
    if (step > kStallNs) stalls.push_back(step);
    last = now;
    if (now >= end) break;
  }
  std::sort(stalls.begin(), stalls.end());
  const auto total_ns = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(last - start).count());
  double stalled = 0;
  for (const std::int64_t s : stalls) stalled += static_cast<double>(s);
  std::printf(
      "floor-stall: %.1f s, %zu stalls over 2 us (%.2f%% of the time); wait at a random "
      "instant: p50 %.1f us, p99 %.1f us, p99.9 %.1f us; longest stall %.1f us\n",
      total_ns / 1e9, stalls.size(), 100.0 * stalled / total_ns, residual_us(stalls, total_ns, 0.5),
      residual_us(stalls, total_ns, 0.01), residual_us(stalls, total_ns, 0.001),
      stalls.empty() ? 0.0 : static_cast<double>(stalls.back()) / 1000.0);
  return 0;
}
