// How a fuzz input is laid out, shared by the fuzzer and the corpus writer:
//   [limit: 4 bytes big-endian][n: 1 byte][n chunk sizes: 1 byte each][stream]
// The stream is decoded whole and in chunks whose sizes cycle through the
// n given sizes (0 feeds an empty chunk).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "framed/endian.h"

namespace framed::fuzz {

struct FuzzInput {
  std::uint32_t limit = 0;
  std::vector<std::size_t> pattern;
  std::span<const std::byte> stream;
};

// The seed corpus holds each spec vector whole, byte by byte and in a 3,7
// rhythm, in files named spec-<vector>-<suffix>.
struct CorpusSplit {
  const char* suffix;
  std::vector<std::uint8_t> pattern;
};
inline const std::vector<CorpusSplit>& corpus_splits() {
  static const std::vector<CorpusSplit> splits{{"whole", {}}, {"bytes", {1}}, {"3-7", {3, 7}}};
  return splits;
}

// Splits raw fuzzer bytes into their parts. Returns false when too short.
inline bool parse_fuzz_input(std::span<const std::byte> raw, FuzzInput& out) {
  if (raw.size() < 5) return false;
  out.limit = load_be32(raw.data());
  const auto n = std::to_integer<std::size_t>(raw[4]);
  if (raw.size() < 5 + n) return false;
  out.pattern.clear();
  for (std::size_t i = 0; i < n; ++i)
    out.pattern.push_back(std::to_integer<std::size_t>(raw[5 + i]));
  out.stream = raw.subspan(5 + n);
  return true;
}

// Builds a fuzz input for `stream` with the given limit and pattern.
inline std::vector<std::byte> make_fuzz_input(std::uint32_t limit,
                                              std::span<const std::uint8_t> pattern,
                                              std::span<const std::byte> stream) {
  std::vector<std::byte> out(4);
  store_be32(out.data(), limit);
  out.push_back(static_cast<std::byte>(pattern.size()));
  for (auto p : pattern) out.push_back(static_cast<std::byte>(p));
  out.insert(out.end(), stream.begin(), stream.end());
  return out;
}

}  // namespace framed::fuzz
