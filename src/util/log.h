// Leveled logging to stderr, one line per call:
//   2026-11-25T13:40:00.123Z info  message
// The level is set once, before any worker thread starts; each line is one
// fprintf, which stdio keeps whole when several threads log at once.
#pragma once

#include <optional>
#include <string_view>

#include "framed/server.h"

namespace framed::util {

using LogLevel = framed::LogLevel;

// "debug", "info", "warn", "error" or "off"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view text);

void set_log_level(LogLevel level) noexcept;
[[nodiscard]] bool log_enabled(LogLevel level) noexcept;
// Writes one line if `level` is enabled.
void log(LogLevel level, std::string_view message);

}  // namespace framed::util
