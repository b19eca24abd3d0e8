// A log-bucketed latency histogram: fixed memory, O(1) record, about 6%
// resolution (16 buckets per power of two). No per-sample storage.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace framed::bench {

class Histogram {
 public:
  void record(std::uint64_t value) noexcept {
    ++counts_[index(value)];
    ++total_;
    if (value > max_) max_ = value;
    if (value < min_) min_ = value;
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return total_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }

  // The value below which a fraction `q` (0..1) of samples fall: the middle
  // of the bucket holding that rank, clamped to the observed min and max.
  [[nodiscard]] std::uint64_t percentile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] >= rank) {
        const std::uint64_t mid = (lower(i) + lower(i + 1)) / 2;
        return mid > max_ ? max_ : (mid < min_ ? min_ : mid);
      }
      rank -= counts_[i];
    }
    return max_;
  }

  void merge(const Histogram& other) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    if (other.max_ > max_) max_ = other.max_;
    if (other.min_ < min_) min_ = other.min_;
  }

  // Bucket layout, exposed for tests: values below 32 have a bucket each;
  // above, each power of two is split into 16 equal buckets.
  static std::size_t index(std::uint64_t v) noexcept {
    if (v < 32) return static_cast<std::size_t>(v);
    const auto e = static_cast<std::size_t>(std::bit_width(v)) - 1;  // 5..63
    const auto sub = static_cast<std::size_t>((v >> (e - 4)) & 15U);
    return 32 + (e - 5) * 16 + sub;
  }
  static std::uint64_t lower(std::size_t i) noexcept {
    if (i < 32) return i;
    const std::size_t e = (i - 32) / 16 + 5;
    const std::uint64_t sub = (i - 32) % 16;
    return (16 + sub) << (e - 4);
  }

 private:
  static constexpr std::size_t kBuckets = 32 + 59 * 16 + 1;
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

}  // namespace framed::bench
