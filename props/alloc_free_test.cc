// The decoder performs zero heap allocations. This binary links a replaced
// global operator new (count_allocations.cc) that counts every allocation in
// the process; the count is sampled around decoding only, since RapidCheck
// and gtest allocate freely.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "count_allocations.h"
#include "framed/decoder.h"
#include "generators.h"

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

}  // namespace
}  // namespace framed::test
