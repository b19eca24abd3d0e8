#include "util/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace framed::util {
namespace {

LogLevel g_level = LogLevel::info;
LogFormat g_format = LogFormat::text;
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
void set_log_format(LogFormat format) noexcept { g_format = format; }
LogFormat log_format() noexcept { return g_format; }

namespace {

// The length of the valid UTF-8 sequence at the start of `s`, or 0.
std::size_t utf8_length(std::string_view s) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0U) != 0x80U) return 0;
  }
  // Overlong forms, surrogates and code points past U+10FFFF.
  if (c == 0xE0 && b(1) < 0xA0) return 0;
  if (c == 0xED && b(1) > 0x9F) return 0;
  if (c == 0xF0 && b(1) < 0x90) return 0;
  if (c == 0xF4 && b(1) > 0x8F) return 0;
  return n;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      // Valid UTF-8 passes whole; any other byte (a certificate's subject
      // may hold anything) becomes U+FFFD, so every line stays JSON.
      const std::size_t n = utf8_length(text.substr(i));
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(text.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4U];
          out += kHex[c & 0xFU];
        } else {
          out += ch;
        }
    }
  }
}

LogEvent& LogEvent::text(std::string_view key, std::string_view value) {
  fields_ += ",\"";
  fields_ += key;
  fields_ += "\":\"";
  append_json_escaped(fields_, value);
  fields_ += '"';
  return *this;
}

LogEvent& LogEvent::number(std::string_view key, std::uint64_t value) {
  fields_ += ",\"";
  fields_ += key;
  fields_ += "\":";
  fields_ += std::to_string(value);
  return *this;
}

void set_log_sink(LogSink sink, void* context) noexcept {
  g_sink = sink;
  g_sink_context = context;
}

bool log_enabled(LogLevel level) noexcept { return level != LogLevel::off && level >= g_level; }

void log(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  log(level, message, LogEvent("message"));
}

void log(LogLevel level, std::string_view message, const LogEvent& event) {
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
  if (g_format == LogFormat::json) {
    std::string line = "{\"time\":\"";
    line += stamp;
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
    line += frac;
    line += "\",\"level\":\"";
    std::string_view name = level_name(level);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    line += name;
    line += "\",\"event\":\"";
    append_json_escaped(line, event.name());
    line += "\",\"msg\":\"";
    append_json_escaped(line, message);
    line += '"';
    line += event.fields();
    line += "}\n";
    std::fputs(line.c_str(), stderr);
    return;
  }
  // One fprintf per line keeps lines whole even when stderr is shared.
  std::fprintf(stderr, "%s.%03dZ %s %.*s\n", stamp, static_cast<int>(ms), level_name(level),
               static_cast<int>(message.size()), message.data());
}

}  // namespace framed::util
