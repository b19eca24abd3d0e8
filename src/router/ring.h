// Consistent hashing for --balance key (ketama's idea): every backend owns
// many points on a ring of 64-bit hashes, and a key goes to the owner of
// the first point at or after its own hash. Adding a backend takes over
// about 1/N of the keys and moves no other; a backend that is down passes
// its keys to the next owners along the ring, each key to one of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace framed::router {

// FNV-1a over `bytes`, then a 64-bit finalizer (so that short keys that
// differ in one byte land far apart on the ring).
[[nodiscard]] std::uint64_t hash_key(std::span<const std::byte> bytes) noexcept;

class HashRing {
 public:
  // `points` per backend; the backends are named by their index in `names`
  // ("host:port"), which places their points.
  explicit HashRing(const std::vector<std::string>& names, std::size_t points = 160);

  // The backend for a key of this hash among those `usable` accepts:
  // the owner of the first point at or after it, skipping owners that are
  // not usable. Returns SIZE_MAX when none is.
  [[nodiscard]] std::size_t pick(std::uint64_t hash,
                                 const std::function<bool(std::size_t)>& usable) const;

 private:
  struct Point {
    std::uint64_t at;
    std::size_t backend;
  };
  std::vector<Point> points_;  // Sorted by `at`.
  std::size_t backends_;
};

}  // namespace framed::router
