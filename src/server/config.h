// framed-server's settings and their defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "framed/decoder.h"
#include "loop/poller.h"
#include "util/log.h"

namespace framed::server {

using std::chrono::milliseconds;

struct Config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7777;
  std::size_t max_conns = 1024;
  milliseconds idle_timeout{60'000};   // 0 disables.
  milliseconds frame_timeout{30'000};  // 0 disables.
  milliseconds drain_timeout{5'000};
  // A closing connection (its echoes owed are being flushed, or its write
  // side is shut down and its input discarded) is closed once the peer has
  // acknowledged everything, or has sent EOF; failing that, when the peer
  // has acknowledged nothing for linger_timeout (it stopped reading), or
  // linger_time after the close began, whichever comes first.
  milliseconds linger_timeout{5'000};
  milliseconds linger_time{30'000};
  std::uint32_t max_frame = kDefaultMaxFrame;
  util::LogLevel log_level = util::LogLevel::info;
  loop::Backend backend = loop::Backend::epoll;  // --backend auto
  std::size_t workers = 1;                       // --workers auto: online CPUs

  // Not flags: fixed limits that bound per-connection memory.
  // Pending output above which the server stops reading from a client.
  std::size_t backlog_cap = 256U << 10U;
  // Bytes read per read(2) call, into one buffer shared by all connections.
  std::size_t read_chunk = 64U << 10U;
};

enum class ParseOutcome { run, help, error };

// Parses argv into `config`. On `error`, `message` says what was wrong;
// on `help` the caller prints usage and exits 0.
ParseOutcome parse_args(int argc, const char* const* argv, Config& config, std::string& message);

// The --help text.
std::string usage();

}  // namespace framed::server
