#include "histogram.h"

#include <gtest/gtest.h>

namespace framed::bench {
namespace {

TEST(Histogram, BucketsCoverEveryValueInOrder) {
  for (std::uint64_t v : {0ULL, 1ULL, 31ULL, 32ULL, 33ULL, 1000ULL, 123456789ULL, ~0ULL}) {
    const auto i = Histogram::index(v);
    EXPECT_LE(Histogram::lower(i), v) << v;
    if (v != ~0ULL) {
      EXPECT_GT(Histogram::lower(i + 1), v) << v;
    }
  }
}

TEST(Histogram, PercentilesAreWithinSixPercent) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100'000U);
  EXPECT_EQ(h.min(), 1U);
  EXPECT_EQ(h.max(), 100'000U);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.5)), 50'000.0, 3'000.0);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.99)), 99'000.0, 6'000.0);
  EXPECT_EQ(h.percentile(1.0), 100'000U);
}

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.percentile(0.5), 0U);
  EXPECT_EQ(h.min(), 0U);
}

}  // namespace
}  // namespace framed::bench
