/// @file
/// Parsers for the values of a command line, as framed's own programs read
/// them: counts, durations and byte sizes. Each returns std::nullopt for
/// any text it does not wholly understand, so that a program can say which
/// value was wrong; none allocates or throws.
///
///   if (auto d = framed::parse_duration("250ms")) options.idle_timeout = *d;
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace framed {

/// A decimal unsigned integer no greater than `max`: "0", "1024". No sign,
/// no spaces, no suffix.
[[nodiscard]] std::optional<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max);

/// A duration: a decimal number with a unit, "250ms", "5s", "2m", "1h"; a
/// bare "0" means zero (a disabled timeout). At most a year.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// A byte count: decimal, optionally followed by B, KiB, MiB or GiB:
/// "65536", "64KiB", "16MiB". Refused when above `max`.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text, std::uint64_t max);

}  // namespace framed
