// Decoder throughput: bytes/s and frames/s for several frame sizes, fed whole
// and in 1-, 7- and 4096-byte chunks. The payload is never touched by the
// decoder, so with whole feeds the cost per frame should not depend on size.
//
//   decoder_bench --benchmark_filter='Decode/16/0'   (size 16, fed whole)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "framed/decoder.h"
#include "framed/encoder.h"

namespace {

// Roughly 4 MiB of back-to-back frames of `size` bytes (at least 8 frames).
std::vector<std::byte> make_stream(std::size_t size, std::size_t& frames) {
  frames = std::max<std::size_t>(8, (4U << 20) / (size + framed::kHeaderSize));
  std::vector<std::byte> payload(size, std::byte{0x5A});
  std::vector<std::byte> stream;
  stream.reserve(frames * (size + framed::kHeaderSize));
  for (std::size_t i = 0; i < frames; ++i) (void)framed::append_frame(stream, payload);
  return stream;
}

// Arguments: frame size, chunk size (0 = the whole stream in one feed).
void Decode(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto chunk = static_cast<std::size_t>(state.range(1));
  std::size_t frames = 0;
  const std::vector<std::byte> stream = make_stream(size, frames);
  const std::size_t step = chunk == 0 ? stream.size() : chunk;

  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    framed::Decoder decoder(framed::kDefaultMaxFrame);
    std::size_t ends = 0;
    for (std::size_t pos = 0; pos < stream.size(); pos += step) {
      std::span<const std::byte> in(stream.data() + pos, std::min(step, stream.size() - pos));
      for (;;) {
        const framed::DecodeResult r = decoder.feed(in);
        in = in.subspan(r.consumed);
        ends += r.frame_end ? 1U : 0U;
        if (r.status != framed::DecodeStatus::chunk) break;
      }
    }
    if (ends != frames) state.SkipWithError("frame count mismatch");
    benchmark::DoNotOptimize(ends);
  }
  const auto iterations = static_cast<std::size_t>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations * stream.size()));
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(iterations * frames), benchmark::Counter::kIsRate);
}

BENCHMARK(Decode)
    ->ArgNames({"size", "chunk"})
    ->ArgsProduct({{0, 16, 64, 1024, 64L * 1024, 1024L * 1024}, {0, 1, 7, 4096}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
