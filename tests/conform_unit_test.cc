// Unit tests for framed-conform's parts that need no server: the embedded
// vectors, the fault-revealing payloads and the verdict on an exchange.
#include <gtest/gtest.h>

#include <string>

#include "conform/options.h"
#include "conform/steps.h"
#include "conform/vectors.h"
#include "conform/verdict.h"
#include "spec_vectors.h"

namespace framed::conform {
namespace {

TEST(ConformVectors, TheEmbeddedCopyMatchesSpecVectorsTxt) {
  std::string error;
  const auto embedded = parse_vectors(embedded_vectors_text(), error);
  ASSERT_EQ(error, "");
  const auto on_disk = test::load_vectors(FRAMED_SPEC_DIR "/vectors.txt", error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(embedded.size(), on_disk.size());
  for (std::size_t i = 0; i < embedded.size(); ++i) {
    EXPECT_EQ(embedded[i].name, on_disk[i].name);
    EXPECT_EQ(embedded[i].limit, on_disk[i].limit) << on_disk[i].name;
    EXPECT_EQ(embedded[i].input, on_disk[i].input) << on_disk[i].name;
    EXPECT_EQ(embedded[i].frames, on_disk[i].expected.frames) << on_disk[i].name;
    EXPECT_EQ(embedded[i].end, on_disk[i].expected.error) << on_disk[i].name;
    EXPECT_EQ(embedded[i].end_offset, on_disk[i].expected.error_offset) << on_disk[i].name;
    // A vector always holds at its own limit.
    EXPECT_TRUE(applies_at(embedded[i], embedded[i].limit)) << on_disk[i].name;
  }
}

TEST(ConformVectors, ALimitVectorDoesNotApplyAtAnotherLimit) {
  std::string error;
  const auto vectors = parse_vectors(
      "[v]\nlimit = 5\ninput = 00000006 010203040506\n"
      "end = frame_too_large @ 4\n",
      error);
  ASSERT_EQ(vectors.size(), 1U) << error;
  EXPECT_TRUE(applies_at(vectors[0], 5));
  EXPECT_FALSE(applies_at(vectors[0], 6));
}

TEST(ConformVectors, MalformedTextIsRejectedWithALine) {
  std::string error;
  EXPECT_TRUE(parse_vectors("[v]\ninput = 0\nend = ok\n", error).empty());
  EXPECT_EQ(error, "line 2: bad input");
  EXPECT_TRUE(parse_vectors("[v]\ninput = 00\n", error).empty());
  EXPECT_EQ(error.find("no end") != std::string::npos, true) << error;
}

TEST(ConformPattern, NeighbouringBytesNeverRepeat) {
  const auto p = pattern(std::size_t{1} << 20U, 99);
  for (std::size_t i = 1; i < p.size(); ++i) ASSERT_NE(p[i], p[i - 1]) << "at " << i;
}

// The echo of a 1 MiB frame with one byte changed: the verdict must name
// the offset of the fault.
std::string first_difference(const std::vector<std::byte>& sent, std::vector<std::byte> back) {
  Expect expect;
  expect.echo = sent;
  expect.close = true;
  Outcome out;
  out.received = std::move(back);
  out.eof = true;
  const auto lines = judge(expect, out, milliseconds(1000));
  for (const auto& l : lines) {
    if (l.rfind("first difference at offset ", 0) == 0) return l;
  }
  return lines.empty() ? "no failure" : "no difference line";
}

TEST(ConformVerdict, FindsAFlippedDroppedOrRepeatedByte) {
  const auto sent = pattern(std::size_t{1} << 20U, 5);
  const std::size_t at = 777'777;
  auto flipped = sent;
  flipped[at] ^= std::byte{1};
  EXPECT_EQ(first_difference(sent, flipped).rfind("first difference at offset 777777:", 0), 0U);
  auto dropped = sent;
  dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(at));
  EXPECT_EQ(first_difference(sent, dropped).rfind("first difference at offset 777777:", 0), 0U);
  auto repeated = sent;
  repeated.insert(repeated.begin() + static_cast<std::ptrdiff_t>(at), sent[at]);
  EXPECT_EQ(first_difference(sent, repeated).rfind("first difference at offset 777778:", 0), 0U);
}

TEST(ConformVerdict, TakesOnlyAPrefixOfThePartialFrameAfterTheEcho) {
  Expect expect;
  expect.echo = {std::byte{1}, std::byte{2}};
  expect.tolerated = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{9}};
  expect.close = true;
  Outcome out;
  out.eof = true;
  out.received = {std::byte{1}, std::byte{2}, std::byte{0}, std::byte{0}};
  EXPECT_TRUE(judge(expect, out, milliseconds(1)).empty());
  out.received = {std::byte{1}, std::byte{2}, std::byte{0}, std::byte{7}};
  EXPECT_FALSE(judge(expect, out, milliseconds(1)).empty());
  out.received = {std::byte{1}, std::byte{2}, std::byte{0}, std::byte{0},
                  std::byte{0}, std::byte{9}, std::byte{9}};
  EXPECT_FALSE(judge(expect, out, milliseconds(1)).empty());
}

TEST(ConformVerdict, AMissingCloseOrMissingBytesFails) {
  Expect expect;
  expect.echo = {std::byte{1}, std::byte{2}};
  expect.close = true;
  Outcome out;
  out.received = expect.echo;
  out.timed_out = true;
  const auto no_close = judge(expect, out, milliseconds(5000));
  ASSERT_FALSE(no_close.empty());
  EXPECT_EQ(no_close.back(), "the echo was complete but the server did not close");
  out.received.pop_back();
  out.timed_out = false;
  out.eof = true;
  const auto short_echo = judge(expect, out, milliseconds(5000));
  ASSERT_FALSE(short_echo.empty());
  EXPECT_EQ(short_echo.back(), "missing from offset 1: 02");
}

TEST(ConformOptions, ParsesSizesDurationsAndSections) {
  const char* argv[] = {"framed-conform", "--max-frame", "1MiB", "--timeout", "250ms", "6.2", "4"};
  std::string error;
  const auto o = parse_options(7, argv, error);
  ASSERT_TRUE(o.has_value()) << error;
  EXPECT_EQ(o->max_frame, 1U << 20U);
  EXPECT_EQ(o->timeout, milliseconds(250));
  EXPECT_EQ(o->sections, (std::vector<std::string>{"6.2", "4"}));
  EXPECT_TRUE(in_section("6.2-oversize-others-unaffected", "6"));
  EXPECT_TRUE(in_section("6.2-oversize-others-unaffected", "6.2"));
  EXPECT_FALSE(in_section("6.2-oversize-others-unaffected", "6.1"));
  EXPECT_FALSE(in_section("6.21-x", "6.2"));
}

}  // namespace
}  // namespace framed::conform
