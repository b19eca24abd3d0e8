// Leveled logging to stderr, one line per call, as text (the default)
//   2026-11-25T13:40:00.123Z info  message
// or as one JSON object per line (--log-format json), for Loki, Vector or
// Elasticsearch:
//   {"time":"2026-11-25T13:40:00.123Z","level":"info","event":"closing",
//    "msg":"conn 127.0.0.1:5000 closing: idle timeout ...","peer":"127.0.0.1:5000",
//    "conn":7,"worker":1,"reason":"idle"}
// An event names what happened and carries its fields; a call without one
// is the event "message". The level and the format are set once, before
// any worker thread starts; each line is one fprintf, which stdio keeps
// whole when several threads log at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "framed/server.h"

namespace framed::util {

using LogLevel = framed::LogLevel;
using LogFormat = framed::LogFormat;

// What happened, and its fields, for the JSON format (the text format
// prints the message alone, as it always has). Keys are the caller's
// constants; values are escaped.
class LogEvent {
 public:
  explicit LogEvent(std::string_view name) noexcept : name_(name) {}
  LogEvent& text(std::string_view key, std::string_view value);
  LogEvent& number(std::string_view key, std::uint64_t value);
  [[nodiscard]] std::string_view name() const noexcept { return name_; }
  // ,"key":value,... (empty without fields).
  [[nodiscard]] const std::string& fields() const noexcept { return fields_; }

 private:
  std::string_view name_;
  std::string fields_;
};

// Appends `text` to `out` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view text);

void set_log_format(LogFormat format) noexcept;
[[nodiscard]] LogFormat log_format() noexcept;

// "debug", "info", "warn", "error" or "off"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view text);

void set_log_level(LogLevel level) noexcept;
[[nodiscard]] bool log_enabled(LogLevel level) noexcept;
// Writes one line if `level` is enabled.
void log(LogLevel level, std::string_view message);
void log(LogLevel level, std::string_view message, const LogEvent& event);

// Where lines go instead of stderr (null: back to stderr): the simulator
// and tests take them, timestamps aside, into their trace. Set it before
// any worker thread starts, as the level.
using LogSink = void (*)(LogLevel level, std::string_view message, void* context);
void set_log_sink(LogSink sink, void* context) noexcept;

}  // namespace framed::util
