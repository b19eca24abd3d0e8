// The load generator behind framed-bench: one or more threads, each with
// its own epoll and non-blocking
// sockets. Each connection keeps `depth` frames in flight, verifies every
// echoed byte and records round-trip times in a histogram.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framed/client.h"
#include "histogram.h"
#include "net/socket.h"

namespace framed::bench {

struct LoadOptions {
  std::size_t connections = 1;
  std::size_t frame_size = 64;
  std::size_t depth = 1;                      // Frames in flight per connection.
  std::chrono::milliseconds duration{5'000};  // Measured time (after warm-up).
  std::chrono::milliseconds warmup{1'000};
  std::uint64_t frames = 0;  // Non-zero: stop after this many.
  std::uint64_t seed = 1;
  std::chrono::milliseconds connect_timeout{30'000};
  bool progress = false;  // A progress line on stderr.
  // TLS on every connection (the handshakes happen while connecting, before
  // any window starts); the server's certificate is verified.
  framed::ClientTlsOptions tls;
  // Threads generating the load, each with its own epoll and an equal
  // share of the connections (and of `frames`), so that on a many-core
  // machine the generator is not the bottleneck. Their measured windows
  // start together.
  std::size_t threads = 1;
};

struct LoadResult {
  std::uint64_t frames = 0;   // Verified during the measured window.
  std::uint64_t bytes = 0;    // Payload bytes verified in the window (one way).
  double seconds = 0;         // Length of the measured window.
  Histogram rtt_ns;           // Round-trip times in the window.
  std::uint64_t errors = 0;   // Connections lost to an error.
  std::uint64_t corrupt = 0;  // Echoes that differed from what was sent.
  std::string first_error;
  // Every connection's error, without naming the connection, so identical
  // ones fold into one line with a count (util::fold_errors).
  std::vector<std::string> error_list;
  std::size_t connected = 0;  // Connections that were established.
  std::uint64_t resumed = 0;  // Handshake mode: handshakes that resumed a session.

  // Adds another thread's result: counts summed, histograms merged, the
  // longer window kept.
  void add(const LoadResult& r);
};

// Called at the start and end of the measured window (to sample server CPU).
using WindowHook = std::function<void(bool start)>;

// Runs the load against `endpoint`. Never throws; failures land in the
// result. With several threads, the results are summed (the histograms
// merged) and `hook` is called by the first thread only.
LoadResult run_load(const net::Endpoint& endpoint, const LoadOptions& options,
                    const WindowHook& hook = {});

// Measures one-direction TCP throughput over loopback between two sockets of
// this machine with no server logic, for `duration`. Returns bytes/s, or a
// negative value with `error` set.
double calibrate_loopback(std::chrono::milliseconds duration, std::string& error);

}  // namespace framed::bench
