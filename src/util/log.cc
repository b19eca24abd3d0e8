#include "util/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace framed::util {
namespace {

LogLevel g_level = LogLevel::info;
LogSink g_sink = nullptr;
void* g_sink_context = nullptr;

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info ";
    case LogLevel::warn: return "warn ";
    case LogLevel::error: return "error";
    case LogLevel::off: break;
  }
  return "?    ";
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::debug;
  if (text == "info") return LogLevel::info;
  if (text == "warn") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  if (text == "off") return LogLevel::off;
  return std::nullopt;
}

void set_log_level(LogLevel level) noexcept { g_level = level; }

void set_log_sink(LogSink sink, void* context) noexcept {
  g_sink = sink;
  g_sink_context = context;
}

bool log_enabled(LogLevel level) noexcept { return level != LogLevel::off && level >= g_level; }

void log(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  if (g_sink != nullptr) {
    g_sink(level, message, g_sink_context);
    return;
  }
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  // One fprintf per line keeps lines whole even when stderr is shared.
  std::fprintf(stderr, "%s.%03dZ %s %.*s\n", stamp, static_cast<int>(ms), level_name(level),
               static_cast<int>(message.size()), message.data());
}

}  // namespace framed::util
