// Properties of the decoder that must hold for every input and every split.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <numeric>

#include "drive.h"
#include "framed/encoder.h"
#include "generators.h"

namespace framed::test {
namespace {

// The sum of payload sizes a single case may produce; keeps 1-byte chunking
// of multi-MiB frames within a few seconds even under sanitizers.
constexpr std::size_t kMaxStreamBytes = 4U << 20;

RC_GTEST_PROP(DecoderProps, AnyFramesSurviveAnyPartition, ()) {
  const auto sizes = *rc::gen::container<std::vector<std::uint32_t>>(frame_size());
  const auto pattern = *chunk_pattern();
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();

  Outcome expected;
  std::vector<std::byte> stream;
  std::size_t total = 0;
  for (std::uint32_t size : sizes) {
    if (total + size > kMaxStreamBytes) break;
    total += size;
    std::vector<std::byte> payload;
    fill(payload, size, seed + expected.frames.size());
    RC_ASSERT(append_frame(stream, payload));
    expected.frames.push_back(std::move(payload));
  }
  const DriveResult got = decode_chunked(kDefaultMaxFrame, stream, pattern);
  RC_ASSERT(got.violation.empty());
  RC_ASSERT(got.outcome.frames.size() == expected.frames.size());
  RC_ASSERT(got.outcome == expected);
  RC_ASSERT(got.consumed == stream.size());
  RC_ASSERT(got.offset == stream.size());
}

// Streams built from pieces that are likely to matter: valid small frames,
// headers with any length, raw bytes, all cut at an arbitrary point.
rc::Gen<std::vector<std::byte>> messy_stream() {
  return rc::gen::exec([] {
    const auto pieces = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 3));
    std::vector<std::byte> out;
    for (int kind : pieces) {
      if (kind == 0) {
        std::vector<std::byte> payload;
        fill(payload, *rc::gen::inRange<std::size_t>(0, 40), *rc::gen::arbitrary<std::uint64_t>());
        (void)append_frame(out, payload);
      } else if (kind == 1) {
        const auto h = encode_header(*rc::gen::arbitrary<std::uint32_t>());
        out.insert(out.end(), h.begin(), h.end());
      } else {
        const auto raw =
            *rc::gen::container<std::vector<std::uint8_t>>(rc::gen::arbitrary<std::uint8_t>());
        for (auto b : raw) out.push_back(static_cast<std::byte>(b));
      }
    }
    out.resize(*rc::gen::inRange<std::size_t>(0, out.size() + 1));
    return out;
  });
}

// The extremes are drawn on purpose: a limit of 0, and limits at and just
// below 4 GiB - 1 where a length compared in 32 bits must not wrap.
rc::Gen<std::uint32_t> any_limit() {
  return rc::gen::weightedOneOf<std::uint32_t>({
      {3, rc::gen::inRange<std::uint32_t>(0, 64)},
      {1, rc::gen::just(kDefaultMaxFrame)},
      {1, rc::gen::arbitrary<std::uint32_t>()},
      {1, rc::gen::element<std::uint32_t>(0U, 0xFFFFFFFFU, 0xFFFFFFFEU, 0xFFFFFFFDU)},
  });
}

RC_GTEST_PROP(DecoderProps, ChunkedDecodingEqualsWholeDecoding, ()) {
  const auto stream = *messy_stream();
  const auto limit = *any_limit();
  const auto pattern = *chunk_pattern();
  const DriveResult whole = decode_whole(limit, stream);
  const DriveResult chunked = decode_chunked(limit, stream, pattern);
  RC_ASSERT(whole.violation.empty());
  RC_ASSERT(chunked.violation.empty());
  RC_ASSERT(chunked.outcome == whole.outcome);
  const Outcome expected = reference_decode(limit, stream);
  RC_ASSERT(whole.outcome == expected);
  // Every byte is consumed, except those after a frame_too_large offset.
  RC_ASSERT(whole.consumed == expected_consumed(expected, stream.size()));
  RC_ASSERT(chunked.consumed == whole.consumed);
  RC_ASSERT(chunked.offset == whole.consumed);
}

RC_GTEST_PROP(DecoderProps, HeaderEncodeThenDecodeIsIdentity, (std::uint32_t length)) {
  RC_ASSERT(load_be32(encode_header(length).data()) == length);
}

RC_GTEST_PROP(DecoderProps, FrameEncodeThenDecodeIsIdentity, ()) {
  std::vector<std::byte> payload;
  fill(payload, *frame_size(), *rc::gen::arbitrary<std::uint64_t>());
  std::vector<std::byte> stream;
  RC_ASSERT(append_frame(stream, payload));
  RC_ASSERT(stream.size() == payload.size() + kHeaderSize);
  const DriveResult got = decode_whole(kDefaultMaxFrame, stream);
  RC_ASSERT(got.outcome.error == DecodeError::none);
  RC_ASSERT(got.outcome.frames.size() == 1U);
  RC_ASSERT(got.outcome.frames[0] == payload);
}

RC_GTEST_PROP(DecoderProps, OversizeIsDetectedAtByteFourOfTheFrame, ()) {
  const auto limit = *rc::gen::inRange<std::uint32_t>(0, 1U << 20);
  const auto excess = *rc::gen::inRange<std::uint32_t>(1, 0xFFFFFFFFU - limit + 1);
  const auto prefix_sizes = *rc::gen::container<std::vector<std::uint32_t>>(
      rc::gen::inRange<std::uint32_t>(0, std::min<std::uint32_t>(limit, 100) + 1));
  const auto pattern = *chunk_pattern();

  std::vector<std::byte> stream;
  Outcome expected;
  for (std::uint32_t size : prefix_sizes) {
    std::vector<std::byte> payload;
    fill(payload, size, size);
    RC_ASSERT(append_frame(stream, payload));
    expected.frames.push_back(std::move(payload));
  }
  const std::size_t frame_start = stream.size();
  const auto header = encode_header(limit + excess);
  stream.insert(stream.end(), header.begin(), header.end());
  // Payload bytes that must never be consumed.
  fill(stream, *rc::gen::inRange<std::size_t>(0, 64), 7);
  expected.error = DecodeError::frame_too_large;
  expected.error_offset = frame_start + 4;

  const DriveResult got = decode_chunked(limit, stream, pattern);
  RC_ASSERT(got.violation.empty());
  RC_ASSERT(got.outcome == expected);
  RC_ASSERT(got.consumed == frame_start + 4);
  RC_ASSERT(got.offset == frame_start + 4);
}

// A few small frames, then one header announcing a length near 4 GiB - 1
// under a limit near 4 GiB - 1, followed by a little payload and the end of
// the stream. Nothing of that size is ever allocated: the decoder streams
// what arrived and reports the truncation, or rejects the header.
RC_GTEST_PROP(DecoderProps, LengthsNearFourGibUnderLimitsNearFourGib, ()) {
  const auto limit = *rc::gen::element<std::uint32_t>(0xFFFFFFFFU, 0xFFFFFFFEU, 0xFFFFFFFDU);
  // The length sits a few bytes either side of the limit, capped at the
  // largest a header can carry.
  const auto delta = *rc::gen::element<std::int64_t>(-3, -2, -1, 0, 1, 2);
  const std::uint64_t length = std::min<std::uint64_t>(
      static_cast<std::uint64_t>(static_cast<std::int64_t>(limit) + delta), 0xFFFFFFFFULL);
  const auto prefix_sizes =
      *rc::gen::container<std::vector<std::uint32_t>>(rc::gen::inRange<std::uint32_t>(0, 20));
  const auto tail = *rc::gen::inRange<std::size_t>(0, 64);
  const auto pattern = *chunk_pattern();

  std::vector<std::byte> stream;
  Outcome expected;
  for (std::uint32_t size : prefix_sizes) {
    std::vector<std::byte> payload;
    fill(payload, size, size + 1);
    RC_ASSERT(append_frame(stream, payload));
    expected.frames.push_back(std::move(payload));
  }
  const std::size_t frame_start = stream.size();
  const auto header = encode_header(static_cast<std::uint32_t>(length));
  stream.insert(stream.end(), header.begin(), header.end());
  fill(stream, tail, 11);
  if (length > limit) {
    expected.error = DecodeError::frame_too_large;
    expected.error_offset = frame_start + 4;
  } else {
    expected.error = DecodeError::truncated_payload;
    expected.error_offset = stream.size();
    expected.partial.assign(stream.begin() + static_cast<std::ptrdiff_t>(frame_start + 4),
                            stream.end());
  }
  RC_TAG(length > limit ? "over" : "within");

  const DriveResult got = decode_chunked(limit, stream, pattern);
  RC_ASSERT(got.violation.empty());
  RC_ASSERT(got.outcome == expected);
  RC_ASSERT(reference_decode(limit, stream) == expected);
  RC_ASSERT(got.consumed == expected_consumed(expected, stream.size()));
  RC_ASSERT(got.offset == got.consumed);
}

// With M = 0 only empty frames pass: any number of them are delivered, and
// the first header announcing one byte or more is frame_too_large.
RC_GTEST_PROP(DecoderProps, LimitZeroAcceptsOnlyEmptyFrames, ()) {
  const auto empties = *rc::gen::inRange<std::size_t>(0, 20);
  const auto bad_length =
      *rc::gen::oneOf(rc::gen::inRange<std::uint32_t>(1, 300), rc::gen::arbitrary<std::uint32_t>());
  const bool end_with_bad = *rc::gen::arbitrary<bool>();
  const auto pattern = *chunk_pattern();

  std::vector<std::byte> stream;
  Outcome expected;
  for (std::size_t i = 0; i < empties; ++i) {
    RC_ASSERT(append_frame(stream, {}));
    expected.frames.emplace_back();
  }
  if (end_with_bad && bad_length != 0) {
    const std::size_t frame_start = stream.size();
    const auto header = encode_header(bad_length);
    stream.insert(stream.end(), header.begin(), header.end());
    fill(stream, 8, 3);
    expected.error = DecodeError::frame_too_large;
    expected.error_offset = frame_start + 4;
  }

  const DriveResult got = decode_chunked(0, stream, pattern);
  RC_ASSERT(got.violation.empty());
  RC_ASSERT(got.outcome == expected);
  RC_ASSERT(got.consumed == expected_consumed(expected, stream.size()));
  RC_ASSERT(got.offset == got.consumed);
}

}  // namespace
}  // namespace framed::test
