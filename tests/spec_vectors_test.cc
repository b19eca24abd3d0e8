// Replays every conformance vector of spec/vectors.txt whole, one byte at a
// time, and at every 2-way split, with each chunk placed against a guard page,
// comparing frames, partial payload, end, and the bytes consumed.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>

#include "drive.h"
#include "guarded_buffer.h"
#include "spec_vectors.h"

namespace framed::test {
namespace {

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> loaded = [] {
    std::string error;
    auto v = load_vectors(FRAMED_SPEC_DIR "/vectors.txt", error);
    if (!error.empty()) ADD_FAILURE() << error;
    return v;
  }();
  return loaded;
}

class SpecVector : public ::testing::TestWithParam<Vector> {
 protected:
  // Every chunk is fed from the end of a page whose successor is unmapped.
  GuardedBuffer guard_{std::max<std::size_t>(GetParam().input.size(), 1)};
  ChunkPlacer placer_ = [this](std::span<const std::byte> c) { return guard_.place(c); };

  void expect(const DriveResult& got, const std::string& how) {
    const Vector& v = GetParam();
    EXPECT_TRUE(got.violation.empty()) << how << ": " << got.violation;
    EXPECT_EQ(got.outcome, v.expected) << how << "\n  expected " << describe(v.expected)
                                       << "\n  got      " << describe(got.outcome);
    // Bytes after a frame_too_large offset are never consumed; every other
    // byte of the input is.
    EXPECT_EQ(got.consumed, expected_consumed(v.expected, v.input.size())) << how;
    EXPECT_EQ(got.offset, got.consumed) << how;
  }
};

TEST_P(SpecVector, Whole) {
  const Vector& v = GetParam();
  expect(decode_chunked(v.limit, v.input, {}, placer_), "whole");
}

TEST_P(SpecVector, OneByteAtATime) {
  const Vector& v = GetParam();
  const std::array<std::size_t, 1> ones{1};
  expect(decode_chunked(v.limit, v.input, ones, placer_), "1-byte chunks");
}

TEST_P(SpecVector, EveryTwoWaySplit) {
  const Vector& v = GetParam();
  for (std::size_t cut = 0; cut <= v.input.size(); ++cut) {
    const std::array<std::size_t, 2> split{cut, v.input.size() - cut};
    expect(decode_chunked(v.limit, v.input, split, placer_), "split at " + std::to_string(cut));
  }
}

TEST_P(SpecVector, MatchesReferenceDecoder) {
  const Vector& v = GetParam();
  EXPECT_EQ(reference_decode(v.limit, v.input), v.expected)
      << "the oracle used by the fuzzer disagrees with the spec";
}

INSTANTIATE_TEST_SUITE_P(Spec, SpecVector, ::testing::ValuesIn(vectors()),
                         [](const auto& p) { return p.param.name; });

TEST(SpecFile, HasAtLeastThirtyCases) { EXPECT_GE(vectors().size(), 30U); }

TEST(SpecFile, CaseNamesAreUnique) {
  std::vector<std::string> names;
  for (const auto& v : vectors()) names.push_back(v.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

}  // namespace
}  // namespace framed::test
