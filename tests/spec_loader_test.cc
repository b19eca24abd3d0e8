// The vector loader is strict: each malformed case below must be rejected
// with a message naming its line, so that a typo in spec/vectors.txt cannot
// silently weaken or drop a conformance case.
#include <gtest/gtest.h>

#include <string>

#include "spec_vectors.h"

namespace framed::test {
namespace {

// Loads `text` and returns the error message, empty when it was accepted.
std::string load_error(const std::string& text) {
  std::string error;
  const auto cases = load_vectors_from_string(text, "t", error);
  if (!error.empty()) {
    EXPECT_TRUE(cases.empty()) << "a rejected file must yield no cases";
  }
  return error;
}

TEST(VectorLoader, AcceptsAWellFormedCaseWithEveryKey) {
  std::string error;
  const auto cases = load_vectors_from_string(
      "# comment\n[a_1]\nlimit = 7\ninput = 00000001 61 00000003 62\nframe = 61\n"
      "partial = 62\nend = truncated_payload @ 10\n\n[b]\ninput =\nend = ok\n",
      "t", error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(cases.size(), 2U);
  EXPECT_EQ(cases[0].name, "a_1");
  EXPECT_EQ(cases[0].limit, 7U);
  EXPECT_EQ(cases[0].input.size(), 10U);
  ASSERT_EQ(cases[0].expected.frames.size(), 1U);
  EXPECT_EQ(cases[0].expected.frames[0], std::vector<std::byte>{std::byte{0x61}});
  EXPECT_EQ(cases[0].expected.partial, std::vector<std::byte>{std::byte{0x62}});
  EXPECT_EQ(cases[0].expected.error, DecodeError::truncated_payload);
  EXPECT_EQ(cases[0].expected.error_offset, 10U);
  EXPECT_EQ(cases[1].limit, kDefaultMaxFrame);
  EXPECT_TRUE(cases[1].input.empty());
  EXPECT_EQ(cases[1].expected, Outcome{});
}

TEST(VectorLoader, RejectsDuplicateInput) {
  EXPECT_EQ(load_error("[a]\ninput = 00\ninput = 00\nend = ok\n"), "t:3: duplicate input");
}

TEST(VectorLoader, RejectsDuplicateLimit) {
  EXPECT_EQ(load_error("[a]\nlimit = 1\nlimit = 2\ninput =\nend = ok\n"), "t:3: duplicate limit");
}

TEST(VectorLoader, RejectsDuplicateEnd) {
  // A second end must not be able to replace the first.
  EXPECT_EQ(load_error("[a]\ninput = 00\nend = truncated_header @ 1\nend = ok\n"),
            "t:4: key end after end");
}

TEST(VectorLoader, RejectsDuplicatePartial) {
  EXPECT_EQ(load_error("[a]\ninput = 0000000201\npartial = 01\npartial = 01\n"
                       "end = truncated_payload @ 5\n"),
            "t:4: duplicate partial");
}

TEST(VectorLoader, RejectsKeysAfterEnd) {
  EXPECT_EQ(load_error("[a]\ninput = 00000000\nend = ok\nframe =\n"), "t:4: key frame after end");
  EXPECT_EQ(load_error("[a]\ninput =\nend = ok\nlimit = 3\n"), "t:4: key limit after end");
}

TEST(VectorLoader, RejectsAMissingEnd) {
  EXPECT_EQ(load_error("[a]\ninput =\n[b]\ninput =\nend = ok\n"), "t:3: case [a] has no end");
  EXPECT_EQ(load_error("[a]\ninput =\nend = ok\n[b]\ninput =\n"), "t:5: case [b] has no end");
}

TEST(VectorLoader, RejectsACaseWithoutInput) {
  EXPECT_EQ(load_error("[a]\nend = ok\n[b]\ninput =\nend = ok\n"), "t:3: case [a] has no input");
  EXPECT_EQ(load_error("[a]\nlimit = 3\nend = ok\n"), "t:3: case [a] has no input");
}

TEST(VectorLoader, RejectsUnknownKeys) {
  EXPECT_EQ(load_error("[a]\ninput =\nfrmae = 00\nend = ok\n"), "t:3: unknown key frmae");
}

TEST(VectorLoader, RejectsTruncatedPayloadWithoutPartial) {
  EXPECT_EQ(load_error("[a]\ninput = 00000001\nend = truncated_payload @ 4\n"),
            "t:3: end = truncated_payload needs a partial line before it");
}

TEST(VectorLoader, RejectsPartialWithAnotherEnd) {
  EXPECT_EQ(load_error("[a]\ninput = 00000000\npartial =\nend = ok\n"),
            "t:4: partial is only for end = truncated_payload");
}

TEST(VectorLoader, RejectsDuplicateAndMalformedCaseNames) {
  EXPECT_EQ(load_error("[a]\ninput =\nend = ok\n[a]\ninput =\nend = ok\n"),
            "t:4: duplicate case name a");
  EXPECT_EQ(load_error("[a b]\ninput =\nend = ok\n"),
            "t:1: case name must be letters, digits and _: a b");
}

TEST(VectorLoader, RejectsMalformedValues) {
  EXPECT_EQ(load_error("[a]\ninput = 0\nend = ok\n"), "t:2: bad hex input");
  EXPECT_EQ(load_error("[a]\nlimit = 4294967296\ninput =\nend = ok\n"), "t:2: bad limit");
  EXPECT_EQ(load_error("[a]\ninput =\nend = none @ 0\n"), "t:3: bad end: none @ 0");
  EXPECT_EQ(load_error("[a]\ninput =\nend = truncated_header\n"), "t:3: bad end: truncated_header");
  EXPECT_EQ(load_error("input =\n"), "t:1: key before the first [case]");
}

TEST(VectorLoader, ReportsAnUnreadableFile) {
  std::string error;
  EXPECT_TRUE(load_vectors("/nonexistent/vectors.txt", error).empty());
  EXPECT_EQ(error, "/nonexistent/vectors.txt: cannot open");
}

TEST(ExpectedConsumed, IsTheErrorOffsetOnlyForFrameTooLarge) {
  Outcome o;
  EXPECT_EQ(expected_consumed(o, 9), 9U);
  o.error = DecodeError::truncated_payload;
  o.error_offset = 9;
  EXPECT_EQ(expected_consumed(o, 9), 9U);
  o.error = DecodeError::frame_too_large;
  o.error_offset = 4;
  EXPECT_EQ(expected_consumed(o, 9), 4U);
}

}  // namespace
}  // namespace framed::test
