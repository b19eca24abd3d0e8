/// @file
/// Big-endian load and store of the 4-byte frame header.
///
/// Lengths are decoded with shifts from individual bytes, never by casting a
/// byte pointer to an integer pointer: the input has no alignment guarantee and
/// type-punning through a cast is undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>

namespace framed {

/// Returns the unsigned 32-bit big-endian integer stored at p[0..3].
/// The caller guarantees that four bytes are readable at p.
[[nodiscard]] constexpr std::uint32_t load_be32(const std::byte* p) noexcept {
  return (static_cast<std::uint32_t>(p[0]) << 24U) | (static_cast<std::uint32_t>(p[1]) << 16U) |
         (static_cast<std::uint32_t>(p[2]) << 8U) | static_cast<std::uint32_t>(p[3]);
}

/// Writes v as four big-endian bytes to p[0..3].
/// The caller guarantees that four bytes are writable at p.
constexpr void store_be32(std::byte* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::byte>(v >> 24U);
  p[1] = static_cast<std::byte>(v >> 16U);
  p[2] = static_cast<std::byte>(v >> 8U);
  p[3] = static_cast<std::byte>(v);
}

}  // namespace framed
