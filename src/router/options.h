// framed-router's command line: where to listen, the backends, how frames
// are balanced and retried, and the server's own limits (a ServerOptions).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "framed/server.h"

namespace framed::router {

enum class Balance : std::uint8_t { round_robin, least_pending, key };

struct Address {
  std::string host;
  std::uint16_t port = 0;
  [[nodiscard]] std::string text() const;  // "10.0.0.2:7000", "[::1]:7000"
};

struct Options {
  ServerOptions server;  // --listen, limits, timeouts, workers, PROXY, metrics, logs.
  std::vector<Address> backends;
  Balance balance = Balance::round_robin;
  std::size_t key_bytes = 8;  // --balance key: the payload's first K bytes.
  std::size_t backend_conns = 2;  // Per backend, per worker.
  // The oldest frame sent on a backend connection unanswered this long
  // marks the backend down.
  std::chrono::milliseconds backend_timeout{5'000};
  std::chrono::milliseconds connect_timeout{1'000};
  // Frames in flight to a backend that fails go once to another (the user
  // says they are idempotent); otherwise their clients are closed.
  bool retry = false;
  // Frames of one client forwarded and not yet answered, at most; its input
  // pauses there.
  std::size_t max_in_flight = 128;
  // A down backend is probed again after this, then twice as long each
  // time, up to probe_max.
  std::chrono::milliseconds probe_interval{200};
  std::chrono::milliseconds probe_max{5'000};
};

enum class Parsed { run, help, version, error };

// Parses argv. On `error`, `message` names the problem in one line.
Parsed parse(int argc, const char* const* argv, Options& out, std::string& message);

// The --help text.
const char* usage();

}  // namespace framed::router
