#include "framed/parse.h"

#include <charconv>

namespace framed {
namespace {

// Splits "123abc" into 123 and "abc"; fails when there is no leading digit
// or the number overflows.
bool split_number(std::string_view text, std::uint64_t& value, std::string_view& unit) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr == first) return false;
  unit = text.substr(static_cast<std::size_t>(ptr - first));
  return true;
}

}  // namespace

std::optional<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max) {
  std::uint64_t value = 0;
  std::string_view rest;
  if (text.empty() || text[0] == '+' || !split_number(text, value, rest) || !rest.empty() ||
      value > max) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::uint64_t value = 0;
  std::string_view unit;
  if (!split_number(text, value, unit)) return std::nullopt;
  std::uint64_t scale = 0;
  if (unit == "ms" || (unit.empty() && value == 0))
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else
    return std::nullopt;
  // Cap at a year so the arithmetic on deadlines can never overflow.
  constexpr std::uint64_t kMaxMs = 365ULL * 24 * 3'600'000;
  if (value > kMaxMs / scale) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(value * scale));
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::uint64_t max) {
  std::uint64_t value = 0;
  std::string_view unit;
  if (!split_number(text, value, unit)) return std::nullopt;
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1ULL << 10U;
  else if (unit == "MiB")
    scale = 1ULL << 20U;
  else if (unit == "GiB")
    scale = 1ULL << 30U;
  else
    return std::nullopt;
  if (value > max / scale) return std::nullopt;
  return value * scale;
}

}  // namespace framed
