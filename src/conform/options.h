// The command line of framed-conform, parsed into one value the cases read.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "framed/client.h"

namespace framed::conform {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7777;
  // The server's --max-frame, so the limit cases probe the exact boundary.
  std::uint32_t max_frame = 16U * 1024U * 1024U;
  // Bounds every wait of a case: a case fails when nothing moves this long.
  std::chrono::milliseconds timeout{5'000};
  bool strict = false;
  // The server's timeouts, used by the --strict cases (spec §6.4, §6.5).
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds frame_timeout{30'000};
  // The server's connection limit; 0 skips the connection-limit case.
  std::uint32_t max_conns = 0;
  // Seeds every random split and payload; printed so a run can be repeated.
  std::uint64_t seed = 0;
  bool seed_given = false;
  std::string junit_path;
  bool json = false;
  bool list = false;
  bool help = false;
  bool version = false;
  std::vector<std::string> sections;
  // --tls and its files: every case over TLS (conform/tls_relay.h).
  ClientTlsOptions tls;
};

// Parses argv. Returns the options, or nullopt with `error` naming the
// problem in one line (without the program name).
std::optional<Options> parse_options(int argc, const char* const* argv, std::string& error);

// The --help text.
const char* usage_text();

}  // namespace framed::conform
