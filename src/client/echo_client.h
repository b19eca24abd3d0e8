// Echo verification on framed::Client: sends frames to an echo server over
// one connection and checks every echoed byte, keeping at most `window`
// frames in flight (Client::pipeline writes and reads at once, so it never
// deadlocks against a server that applies backpressure). Used by
// framed-client, the stress test and the integration tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "framed/client.h"

namespace framed::client {

struct EchoOptions {
  std::size_t window = 16;                    // Frames in flight at most.
  std::chrono::milliseconds timeout{10'000};  // Longest wait without progress.
  // When non-zero, writes are cut at random sizes drawn from this seed, so the
  // server sees partial frames at every kind of boundary.
  std::uint64_t split_seed = 0;
  framed::ClientTlsOptions tls;  // TLS when tls.enabled.
};

// Produces the payload of frame `index` into `out` (cleared by the caller).
using FrameSource = std::function<void(std::size_t index, std::vector<std::byte>& out)>;
// Called for each verified echo, with its index, payload and round-trip time.
using OnEcho = std::function<void(std::size_t index, std::span<const std::byte> payload,
                                  std::chrono::nanoseconds rtt)>;

struct EchoResult {
  std::size_t frames_verified = 0;   // Echoed back byte for byte.
  std::uint64_t bytes_verified = 0;  // Payload bytes of verified frames.
  bool corrupt = false;              // An echo differed from what was sent.
  std::string error;                 // Empty on success; otherwise what happened.
};

// Connects to host:port, sends `count` frames from `source`, verifies each
// echo in order, and closes. Stops at the first error.
EchoResult run_echo(const std::string& host, std::uint16_t port, std::size_t count,
                    const FrameSource& source, const EchoOptions& options,
                    const OnEcho& on_echo = {});

}  // namespace framed::client
