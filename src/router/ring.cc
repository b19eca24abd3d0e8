#include "router/ring.h"

#include <algorithm>

namespace framed::router {

std::uint64_t hash_key(std::span<const std::byte> bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::byte b : bytes) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 0x100000001b3ULL;
  }
  // splitmix64's finalizer.
  h ^= h >> 30U;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27U;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31U;
  return h;
}

HashRing::HashRing(const std::vector<std::string>& names, std::size_t points)
    : backends_(names.size()) {
  points_.reserve(names.size() * points);
  for (std::size_t b = 0; b < names.size(); ++b) {
    for (std::size_t i = 0; i < points; ++i) {
      const std::string label = names[b] + "#" + std::to_string(i);
      points_.push_back({hash_key(std::as_bytes(std::span(label.data(), label.size()))), b});
    }
  }
  std::sort(points_.begin(), points_.end(),
            [](const Point& x, const Point& y) { return x.at < y.at; });
}

std::size_t HashRing::pick(std::uint64_t hash,
                           const std::function<bool(std::size_t)>& usable) const {
  if (points_.empty()) return SIZE_MAX;
  const auto first = std::lower_bound(points_.begin(), points_.end(), hash,
                                      [](const Point& p, std::uint64_t h) { return p.at < h; });
  std::size_t start = static_cast<std::size_t>(first - points_.begin());
  // At most one full turn: every point is looked at once at worst (all
  // backends down), which is rare and bounded by backends * points.
  std::vector<bool> tried;
  for (std::size_t k = 0; k < points_.size(); ++k) {
    const Point& p = points_[(start + k) % points_.size()];
    if (usable(p.backend)) return p.backend;
    if (tried.empty()) tried.assign(backends_, false);
    if (!tried[p.backend]) {
      tried[p.backend] = true;
      if (std::count(tried.begin(), tried.end(), true) == static_cast<std::ptrdiff_t>(backends_)) {
        break;
      }
    }
  }
  return SIZE_MAX;
}

}  // namespace framed::router
