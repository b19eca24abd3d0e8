// The decoder performs zero heap allocations. This binary links a replaced
// global operator new (count_allocations.cc) that counts every allocation in
// the process; the count is sampled around decoding only, since RapidCheck
// and gtest allocate freely.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "count_allocations.h"
#include "framed/decoder.h"
#include "framed/encoder.h"
#include "framed/endian.h"
#include "framed/proxy.h"
#include "generators.h"
#include "proxy_gen.h"

namespace framed::test {
namespace {

TEST(AllocationCounter, CountsAnAllocation) {
  // Proves the counter is live, so a zero below means something.
  const std::size_t before = allocation_count();
  // A direct call, not a new-expression: the compiler may elide the latter.
  void* p = ::operator new(sizeof(int));
  const std::size_t after = allocation_count();
  ::operator delete(p);
  EXPECT_EQ(after, before + 1);
}

RC_GTEST_PROP(DecoderProps, DecodingPerformsZeroHeapAllocations, ()) {
  const auto sizes = *rc::gen::container<std::vector<std::uint32_t>>(frame_size());
  auto pattern = *chunk_pattern();
  // Only empty chunks would never get through the stream.
  if (std::all_of(pattern.begin(), pattern.end(), [](std::size_t n) { return n == 0; })) {
    pattern.push_back(1);
  }
  std::vector<std::byte> stream;
  std::size_t expected_payload = 0;
  for (std::uint32_t size : sizes) {
    if (expected_payload + size > (4U << 20)) break;
    expected_payload += size;
    std::vector<std::byte> payload;
    fill(payload, size, size);
    RC_ASSERT(append_frame(stream, payload));
  }
  // Garbage after the frames drives the error path too.
  stream.insert(stream.end(), 4, std::byte{0xFF});

  const std::size_t before = allocation_count();
  Decoder decoder;
  std::size_t payload_bytes = 0;
  std::size_t pos = 0;
  std::size_t turn = 0;
  bool failed = false;
  while (pos < stream.size() && !failed) {
    std::size_t size = std::min(stream.size() - pos, pattern[turn++ % pattern.size()]);
    std::span<const std::byte> chunk(stream.data() + pos, size);
    pos += size;
    for (;;) {
      const DecodeResult r = decoder.feed(chunk);
      payload_bytes += r.payload.size();
      chunk = chunk.subspan(r.consumed);
      if (r.status == DecodeStatus::error) failed = true;
      if (r.status != DecodeStatus::chunk) break;
    }
  }
  const std::size_t after = allocation_count();

  RC_ASSERT(after == before);
  RC_ASSERT(payload_bytes == expected_payload);
  RC_ASSERT(decoder.error() == DecodeError::frame_too_large);
}

// Under limits at and near 4 GiB - 1, headers announcing lengths near 4 GiB
// stream their little payload without a single allocation: nothing is sized
// by the announced length.
RC_GTEST_PROP(DecoderProps, HugeLimitsAndLengthsPerformZeroHeapAllocations, ()) {
  const auto limit = *rc::gen::element<std::uint32_t>(0xFFFFFFFFU, 0xFFFFFFFEU, 0U);
  const auto length = *rc::gen::oneOf(rc::gen::inRange<std::uint32_t>(0xFFFFFFF0U, 0xFFFFFFFFU),
                                      rc::gen::just(0xFFFFFFFFU), rc::gen::just(1U));
  const auto tail = *rc::gen::inRange<std::size_t>(0, 100);
  std::vector<std::byte> stream(kHeaderSize);
  store_be32(stream.data(), length);
  stream.resize(kHeaderSize + tail, std::byte{0x5A});

  const std::size_t before = allocation_count();
  Decoder decoder(limit);
  std::size_t payload_bytes = 0;
  std::span<const std::byte> rest(stream);
  for (;;) {
    const DecodeResult r = decoder.feed(rest);
    payload_bytes += r.payload.size();
    rest = rest.subspan(r.consumed);
    if (r.status != DecodeStatus::chunk) break;
  }
  const DecodeError end = decoder.finish();
  const std::size_t after = allocation_count();

  RC_ASSERT(after == before);
  if (length > limit) {
    RC_ASSERT(end == DecodeError::frame_too_large);
    RC_ASSERT(payload_bytes == 0U);
    RC_ASSERT(decoder.offset() == kHeaderSize);
  } else if (length > tail) {
    RC_ASSERT(end == DecodeError::truncated_payload);
    RC_ASSERT(payload_bytes == tail);
    RC_ASSERT(decoder.offset() == stream.size());
  }
}

// The PROXY header parser allocates nothing either: valid headers of both
// versions, with TLVs, and the same with bytes changed, in any split.
RC_GTEST_PROP(ProxyProps, ParsingPerformsZeroHeapAllocations, ()) {
  auto wire = encode_proxy(*sent_header());
  const auto flip = *rc::gen::inRange<std::size_t>(0, wire.size() + 1);
  if (flip < wire.size()) wire[flip] ^= std::byte{0x5A};
  auto pattern = *chunk_pattern();
  pattern.push_back(1);

  const std::size_t before = allocation_count();
  ProxyParser parser;
  std::size_t pos = 0;
  std::size_t turn = 0;
  bool ended = false;
  while (pos < wire.size() && !ended) {
    const std::size_t n = std::min(wire.size() - pos, pattern[turn++ % pattern.size()]);
    const ProxyResult r = parser.feed(std::span<const std::byte>(wire).subspan(pos, n));
    pos += r.consumed;
    ended = r.status != ProxyStatus::need_more;
  }
  (void)parser.finish();
  const std::size_t after = allocation_count();
  RC_ASSERT(after == before);
  if (flip >= wire.size()) RC_ASSERT(parser.done());
}

}  // namespace
}  // namespace framed::test
