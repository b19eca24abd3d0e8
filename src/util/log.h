// Leveled logging to stderr, one line per call:
//   2026-11-25T13:40:00.123Z info  message
// Not thread-safe by design: framed-server has one thread.
#pragma once

#include <optional>
#include <string_view>

namespace framed::util {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

// "debug", "info", "warn", "error" or "off"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view text);

void set_log_level(LogLevel level) noexcept;
[[nodiscard]] bool log_enabled(LogLevel level) noexcept;
// Writes one line if `level` is enabled.
void log(LogLevel level, std::string_view message);

}  // namespace framed::util
