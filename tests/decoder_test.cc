// The decoder's API contract, case by case.
#include "framed/decoder.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "framed/encoder.h"

namespace framed {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(DecodeError, CodesAreFixedBySpec) {
  EXPECT_EQ(static_cast<int>(DecodeError::none), 0);
  EXPECT_EQ(static_cast<int>(DecodeError::frame_too_large), 1);
  EXPECT_EQ(static_cast<int>(DecodeError::truncated_header), 2);
  EXPECT_EQ(static_cast<int>(DecodeError::truncated_payload), 3);
}

TEST(DecodeError, ToStringNamesEachError) {
  EXPECT_EQ(to_string(DecodeError::none), "none");
  EXPECT_EQ(to_string(DecodeError::frame_too_large), "frame_too_large");
  EXPECT_EQ(to_string(DecodeError::truncated_header), "truncated_header");
  EXPECT_EQ(to_string(DecodeError::truncated_payload), "truncated_payload");
  EXPECT_EQ(to_string(static_cast<DecodeError>(200)), "unknown");
}

TEST(Decoder, EmptyInputNeedsMoreAndConsumesNothing) {
  Decoder d;
  const auto r = d.feed({});
  EXPECT_EQ(r.status, DecodeStatus::need_more);
  EXPECT_EQ(r.consumed, 0U);
  EXPECT_FALSE(d.in_frame());
}

TEST(Decoder, WholeFrameIsOneChunkViewingCallerBuffer) {
  const auto in = bytes({0, 0, 0, 3, 'a', 'b', 'c', 0, 0});
  Decoder d;
  const auto r = d.feed(in);
  ASSERT_EQ(r.status, DecodeStatus::chunk);
  EXPECT_EQ(r.consumed, 7U);
  EXPECT_EQ(r.payload.data(), in.data() + 4);
  EXPECT_EQ(r.payload.size(), 3U);
  EXPECT_EQ(r.frame_length, 3U);
  EXPECT_EQ(r.chunk_offset, 0U);
  EXPECT_TRUE(r.frame_end);
  EXPECT_EQ(d.offset(), 7U);
  // The two trailing bytes are a partial header.
  const auto rest = d.feed(std::span(in).subspan(7));
  EXPECT_EQ(rest.status, DecodeStatus::need_more);
  EXPECT_EQ(rest.consumed, 2U);
  EXPECT_TRUE(d.in_frame());
}

TEST(Decoder, ZeroLengthFrameIsAnEmptyFinalChunk) {
  const auto in = bytes({0, 0, 0, 0});
  Decoder d;
  const auto r = d.feed(in);
  ASSERT_EQ(r.status, DecodeStatus::chunk);
  EXPECT_EQ(r.consumed, 4U);
  EXPECT_TRUE(r.payload.empty());
  EXPECT_TRUE(r.frame_end);
  EXPECT_EQ(d.finish(), DecodeError::none);
}

TEST(Decoder, PayloadStreamsInChunksWithOffsets) {
  const auto in = bytes({0, 0, 0, 5, 1, 2, 3, 4, 5});
  Decoder d;
  auto r = d.feed(std::span(in).first(6));
  ASSERT_EQ(r.status, DecodeStatus::chunk);
  EXPECT_EQ(r.payload.size(), 2U);
  EXPECT_EQ(r.chunk_offset, 0U);
  EXPECT_FALSE(r.frame_end);
  r = d.feed(std::span(in).subspan(6));
  ASSERT_EQ(r.status, DecodeStatus::chunk);
  EXPECT_EQ(r.payload.size(), 3U);
  EXPECT_EQ(r.chunk_offset, 2U);
  EXPECT_EQ(r.frame_length, 5U);
  EXPECT_TRUE(r.frame_end);
}

TEST(Decoder, OversizeIsReportedAtFourthHeaderByteAndIsSticky) {
  const auto in = bytes({0, 0, 0, 9, 1, 2});
  Decoder d(8);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(d.feed(std::span(in).subspan(i, 1)).status, DecodeStatus::need_more);
  }
  const auto r = d.feed(std::span(in).subspan(3));
  EXPECT_EQ(r.status, DecodeStatus::error);
  EXPECT_EQ(r.consumed, 1U) << "no payload byte may be consumed";
  EXPECT_EQ(d.error(), DecodeError::frame_too_large);
  EXPECT_EQ(d.error_offset(), 4U);
  EXPECT_EQ(d.frame_length(), 9U);
  EXPECT_FALSE(d.in_frame());
  const auto again = d.feed(std::span(in).subspan(4));
  EXPECT_EQ(again.status, DecodeStatus::error);
  EXPECT_EQ(again.consumed, 0U);
  EXPECT_EQ(d.finish(), DecodeError::frame_too_large);
}

TEST(Decoder, ResetClearsErrorAndKeepsLimit) {
  Decoder d(2);
  const auto bad = bytes({0, 0, 0, 3});
  ASSERT_EQ(d.feed(bad).status, DecodeStatus::error);
  d.reset();
  EXPECT_EQ(d.error(), DecodeError::none);
  EXPECT_EQ(d.offset(), 0U);
  EXPECT_EQ(d.max_frame(), 2U);
  const auto good = bytes({0, 0, 0, 2, 7, 7});
  EXPECT_EQ(d.feed(good).status, DecodeStatus::chunk);
  EXPECT_EQ(d.feed(bad).status, DecodeStatus::error);
}

TEST(Decoder, FinishReportsTruncationAtStreamLength) {
  Decoder header_cut;
  (void)header_cut.feed(bytes({0, 0}));
  EXPECT_EQ(header_cut.finish(), DecodeError::truncated_header);
  EXPECT_EQ(header_cut.error_offset(), 2U);

  Decoder payload_cut;
  (void)payload_cut.feed(bytes({0, 0, 0, 4, 1}));
  EXPECT_EQ(payload_cut.finish(), DecodeError::truncated_payload);
  EXPECT_EQ(payload_cut.error_offset(), 5U);
  EXPECT_EQ(payload_cut.feed(bytes({2})).status, DecodeStatus::error);
}

TEST(Decoder, LimitOfFourGibMinusOneAcceptsEveryLength) {
  Decoder d(0xFFFFFFFFU);
  const auto r = d.feed(bytes({0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(r.status, DecodeStatus::need_more);
  EXPECT_TRUE(d.in_frame());
}

TEST(Decoder, IsASmallValueType) {
  static_assert(std::is_trivially_copyable_v<Decoder>);
  static_assert(std::is_nothrow_move_constructible_v<Decoder>);
  EXPECT_LE(sizeof(Decoder), 40U);
}

TEST(Encoder, HeaderIsBigEndian) {
  EXPECT_EQ(encode_header(0x01020304U),
            (std::array<std::byte, 4>{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}}));
  static_assert(load_be32(encode_header(0xDEADBEEFU).data()) == 0xDEADBEEFU);
}

TEST(Encoder, AppendFrameWritesHeaderThenPayload) {
  std::vector<std::byte> out = bytes({9});
  ASSERT_TRUE(append_frame(out, bytes({'h', 'i'})));
  EXPECT_EQ(out, bytes({9, 0, 0, 0, 2, 'h', 'i'}));
}

}  // namespace
}  // namespace framed
