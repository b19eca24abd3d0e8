/// @file
/// Frame encoding: the 4-byte header, and whole frames for clients and tests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "framed/endian.h"

namespace framed {

inline constexpr std::size_t kHeaderSize = 4;

/// Returns the wire header for a payload of `length` bytes.
[[nodiscard]] constexpr std::array<std::byte, kHeaderSize> encode_header(
    std::uint32_t length) noexcept {
  std::array<std::byte, kHeaderSize> header{};
  store_be32(header.data(), length);
  return header;
}

/// Appends one complete frame (header, then payload) to `out`.
/// Returns false, and leaves `out` unchanged, when the payload is longer than
/// a header can describe (4 GiB - 1). This allocates through `out`; the decoder
/// never does.
[[nodiscard]] bool append_frame(std::vector<std::byte>& out, std::span<const std::byte> payload);

}  // namespace framed
