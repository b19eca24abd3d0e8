// The simulator's one source of choices: a seeded PRNG (xoshiro256**, seeded
// through splitmix64), so that a 64-bit seed decides everything and a run
// replays exactly. Never std::random_device, never the clock.
#pragma once

#include <cstddef>
#include <cstdint>

namespace framed::sim {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept {
    for (auto& word : s_) {
      seed += 0x9E3779B97F4A7C15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31U);
    }
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17U;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [lo, hi] (inclusive); lo when hi < lo.
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) noexcept {
    if (hi <= lo) return lo;
    const std::uint64_t span = hi - lo + 1;
    return span == 0 ? next() : lo + next() % span;
  }
  std::size_t below(std::size_t n) noexcept {
    return n == 0 ? 0 : static_cast<std::size_t>(next() % n);
  }
  // True with probability `p` (0 to 1).
  bool chance(double p) noexcept { return static_cast<double>(next() >> 11U) * 0x1.0p-53 < p; }
  // A size skewed towards small values: mostly up to `small`, sometimes up
  // to `large`.
  std::size_t size(std::size_t small, std::size_t large) noexcept {
    return chance(0.8) ? static_cast<std::size_t>(range(0, small))
                       : static_cast<std::size_t>(range(0, large));
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, unsigned k) noexcept {
    return (x << k) | (x >> (64U - k));
  }
  std::uint64_t s_[4]{};
};

}  // namespace framed::sim
