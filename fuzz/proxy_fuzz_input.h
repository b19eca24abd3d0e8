// How a proxy_fuzzer input is laid out, shared by the fuzzer, its replay and
// the corpus writer:
//   [v2 limit: 2 bytes big-endian][n: 1 byte][n piece sizes: 1 byte each][stream]
// The stream is parsed whole, byte by byte, and in pieces whose sizes cycle
// through the n given sizes (0 feeds an empty piece).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace framed::fuzz {

struct ProxyFuzzInput {
  std::uint16_t v2_max = 0;
  std::vector<std::size_t> pattern;
  std::span<const std::byte> stream;
};

// The seed corpus (fuzz/proxy_corpus) holds each vector of
// spec/proxy_vectors.txt whole, byte by byte and in a 3,7 rhythm, in files
// named spec-<vector>-<suffix>.
struct ProxyCorpusSplit {
  const char* suffix;
  std::vector<std::uint8_t> pattern;
};
inline const std::vector<ProxyCorpusSplit>& proxy_corpus_splits() {
  static const std::vector<ProxyCorpusSplit> splits{{"whole", {}}, {"bytes", {1}}, {"3-7", {3, 7}}};
  return splits;
}

inline bool parse_proxy_fuzz_input(std::span<const std::byte> raw, ProxyFuzzInput& out) {
  if (raw.size() < 3) return false;
  out.v2_max = static_cast<std::uint16_t>((std::to_integer<unsigned>(raw[0]) << 8U) |
                                          std::to_integer<unsigned>(raw[1]));
  const auto n = std::to_integer<std::size_t>(raw[2]);
  if (raw.size() < 3 + n) return false;
  out.pattern.clear();
  for (std::size_t i = 0; i < n; ++i)
    out.pattern.push_back(std::to_integer<std::size_t>(raw[3 + i]));
  out.stream = raw.subspan(3 + n);
  return true;
}

inline std::vector<std::byte> make_proxy_fuzz_input(std::uint16_t v2_max,
                                                    std::span<const std::uint8_t> pattern,
                                                    std::span<const std::byte> stream) {
  std::vector<std::byte> out;
  out.push_back(static_cast<std::byte>(v2_max >> 8U));
  out.push_back(static_cast<std::byte>(v2_max & 0xFFU));
  out.push_back(static_cast<std::byte>(pattern.size()));
  for (const auto p : pattern) out.push_back(static_cast<std::byte>(p));
  out.insert(out.end(), stream.begin(), stream.end());
  return out;
}

}  // namespace framed::fuzz
