// RapidCheck generators for frame streams and the ways to split them.
#pragma once

#include <rapidcheck.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace framed::test {

// Payload sizes: mostly tiny, some a few KiB, a few of several MiB, so that
// frames far larger than RapidCheck's default sizes are exercised.
inline rc::Gen<std::uint32_t> frame_size() {
  return rc::gen::weightedOneOf<std::uint32_t>({
      {16, rc::gen::inRange<std::uint32_t>(0, 17)},
      {4, rc::gen::inRange<std::uint32_t>(0, 4097)},
      {1, rc::gen::inRange<std::uint32_t>(0, 3U << 20)},
  });
}

// A partition of a stream into chunks, as sizes that are cycled through:
// empty chunks, 1-byte chunks, small and large ones all occur.
inline rc::Gen<std::vector<std::size_t>> chunk_pattern() {
  return rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::weightedOneOf<std::size_t>({
          {2, rc::gen::just<std::size_t>(0)},
          {4, rc::gen::just<std::size_t>(1)},
          {6, rc::gen::inRange<std::size_t>(2, 16)},
          {2, rc::gen::inRange<std::size_t>(16, 70000)},
      })));
}

// Deterministic filler so payloads differ from each other and from headers.
inline void fill(std::vector<std::byte>& out, std::size_t n, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13U;
    x ^= x >> 7U;
    x ^= x << 17U;
    out.push_back(static_cast<std::byte>(x));
  }
}

}  // namespace framed::test
