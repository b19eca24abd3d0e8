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

// Where lines go instead of stderr (null: back to stderr): the simulator
// and tests take them, timestamps aside, into their trace. Set it before
// any worker thread starts, as the level.
using LogSink = void (*)(LogLevel level, std::string_view message, void* context);
void set_log_sink(LogSink sink, void* context) noexcept;

}  // namespace framed::util
