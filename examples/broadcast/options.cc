#include "options.h"

#include <framed/parse.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace broadcast {

const char* usage() {
  return R"(usage: framed-broadcast [options]

A relay for length-prefixed frames: every frame a client sends is delivered,
whole and unchanged, to every other connected client (not back to the
sender). Frames from different senders are never interleaved on a stream.

options:
  --host ADDR          address to listen on (default 127.0.0.1)
  --port N             TCP port, 0 picks a free one (default 7778)
  --max-conns N        connections at most (default 1024)
  --max-frame BYTES    largest frame relayed (default 16MiB); larger closes
  --max-backlog BYTES  a receiver with more pending than this is cut
                       (default 4MiB), so a slow one cannot stall the rest
  --workers N          worker threads, each with its own clients (default 1);
                       a frame reaches the clients of every worker
  --log-level L        debug, info, warn, error or off (default info)
  -h, --help           show this text
  --version            show the version

Prints "listening on HOST:PORT" once listening. SIGINT or SIGTERM drains and
exits 0; SIGUSR1 logs the counters.
)";
}

Parsed parse(int argc, const char* const* argv, Options& out, std::string& message) {
  out.server.port = 7778;
  out.server.name = "framed-broadcast";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") return Parsed::help;
    if (arg == "--version") return Parsed::version;
    constexpr std::string_view known[] = {"--host",      "--port",    "--max-conns",
                                          "--max-frame", "--workers", "--max-backlog",
                                          "--log-level"};
    bool is_known = false;
    for (auto k : known) is_known = is_known || k == arg;
    if (!is_known) {
      message = "unknown option '" + std::string(arg) + "'";
      return Parsed::error;
    }
    if (i + 1 >= argc) {
      message = arg.starts_with("--") ? "option '" + std::string(arg) + "' needs a value"
                                      : "unexpected argument '" + std::string(arg) + "'";
      return Parsed::error;
    }
    const std::string_view v = argv[++i];
    bool ok = true;
    if (arg == "--host") {
      out.server.host = std::string(v);
      ok = !v.empty();
    } else if (arg == "--port") {
      const auto n = framed::parse_uint(v, 65535);
      ok = n.has_value();
      if (ok) out.server.port = static_cast<std::uint16_t>(*n);
    } else if (arg == "--max-conns") {
      const auto n = framed::parse_uint(v, 1'000'000);
      ok = n && *n > 0;
      if (ok) out.server.max_conns = static_cast<std::size_t>(*n);
    } else if (arg == "--max-frame") {
      const auto n = framed::parse_size(v, 0xFFFFFFFFU);
      ok = n.has_value();
      if (ok) out.server.max_frame = static_cast<std::uint32_t>(*n);
    } else if (arg == "--workers") {
      const auto n = framed::parse_uint(v, 256);
      ok = n && *n > 0;
      if (ok) out.server.workers = static_cast<std::size_t>(*n);
    } else if (arg == "--max-backlog") {
      const auto n = framed::parse_size(v, 1ULL << 40U);
      ok = n && *n > 0;
      if (ok) out.max_backlog = static_cast<std::size_t>(*n);
    } else if (arg == "--log-level") {
      constexpr std::pair<std::string_view, framed::LogLevel> levels[] = {
          {"debug", framed::LogLevel::debug},
          {"info", framed::LogLevel::info},
          {"warn", framed::LogLevel::warn},
          {"error", framed::LogLevel::error},
          {"off", framed::LogLevel::off}};
      ok = false;
      for (const auto& [name, level] : levels) {
        if (v == name) {
          out.server.log_level = level;
          ok = true;
        }
      }
    } else {
      message = "unknown option '" + std::string(arg) + "'";
      return Parsed::error;
    }
    if (!ok) {
      message = "invalid value '" + std::string(v) + "' for " + std::string(arg);
      return Parsed::error;
    }
  }
  return Parsed::run;
}

}  // namespace broadcast
