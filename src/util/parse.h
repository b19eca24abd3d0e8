// Parsers for command-line values. Each returns std::nullopt on any input it
// does not fully understand, so callers can print one clear error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace framed::util {

// A decimal unsigned integer no greater than `max`: "0", "1024". No sign,
// no spaces, no suffix.
std::optional<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max);

// A duration: a decimal number with a unit, "250ms", "5s", "2m", "1h"; a bare
// "0" means zero (a disabled timeout). Anything else is rejected.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// A byte count: decimal, optionally followed by B, KiB, MiB or GiB: "65536",
// "64KiB", "16MiB". Rejected when above `max`.
std::optional<std::uint64_t> parse_size(std::string_view text, std::uint64_t max);

}  // namespace framed::util
