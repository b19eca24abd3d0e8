// Frames echoed whole and in order: zero-length frames (§1), any split of
// the stream (§4), large frames, pipelining and concurrent connections
// (§6.1). Every exchange ends with a half-close, so a server that sends
// anything extra, or nothing, is caught.
#include <algorithm>
#include <thread>

#include "conform/case.h"
#include "conform/steps.h"
#include "conform/verdict.h"

namespace framed::conform {
namespace {

// Sends `stream` with `writes` and expects it back whole, then a close.
Result echo_all(Context& ctx, const std::string& what, const std::vector<std::byte>& stream,
                std::vector<std::size_t> writes = {}, milliseconds pause = milliseconds(0)) {
  SendPlan plan;
  plan.data = stream;
  plan.writes = std::move(writes);
  plan.pause = pause;
  plan.shut_wr = true;
  Expect expect;
  expect.echo = stream;
  expect.close = true;
  return exchange(ctx, what, plan, expect);
}

Result zero_alone(Context& ctx) {
  std::vector<std::byte> s;
  append_frame(s, {});
  return echo_all(ctx, "one zero-length frame", s);
}

Result zero_between(Context& ctx) {
  std::vector<std::byte> s;
  append_frame(s, payload(ctx, 5, 1));
  append_frame(s, {});
  append_frame(s, payload(ctx, 3, 2));
  append_frame(s, {});
  append_frame(s, {});
  append_frame(s, payload(ctx, 1, 3));
  return echo_all(ctx, "frames of 5, 0, 3, 0, 0 and 1 bytes", s);
}

Result zero_many(Context& ctx) {
  std::vector<std::byte> s;
  for (int i = 0; i < 1000; ++i) append_frame(s, {});
  return echo_all(ctx, "1000 zero-length frames in a row, one write", s);
}

// A stream of small frames of varied sizes, the same for every split case.
std::vector<std::byte> mixed_stream(const Context& ctx, std::uint64_t seed) {
  std::vector<std::byte> s;
  std::uint64_t salt = seed;
  for (std::size_t size : {0U, 1U, 5U, 0U, 300U, 2U, 17U, 0U, 4U})
    append_frame(s, payload(ctx, size, ++salt));
  return s;
}

Result split_every_byte(Context& ctx) {
  const auto s = mixed_stream(ctx, 1);
  return echo_all(ctx, "frames of 0, 1, 5, 0, 300, 2, 17, 0, 4 bytes, one byte per write", s,
                  every_byte(s.size()), kSplitPause);
}

Result split_header_payload(Context& ctx) {
  // Header and payload in separate writes: the commonest split in practice.
  std::vector<std::byte> s;
  std::vector<std::size_t> writes;
  for (std::size_t size : {10U, 0U, 200U, 1U}) {
    const auto p = payload(ctx, size, size);
    append_frame(s, p);
    writes.push_back(4);
    if (!p.empty()) writes.push_back(p.size());
  }
  return echo_all(ctx, "4 frames, each header and each payload in its own write", s, writes,
                  kSplitPause);
}

Result split_random(Context& ctx) {
  std::mt19937_64 rng(ctx.seed);
  std::vector<std::byte> s;
  std::uniform_int_distribution<std::size_t> size(0, 600);
  // Two statements: the order of evaluation of arguments is unspecified,
  // and a seed must give the same bytes with every compiler.
  for (int i = 0; i < 100; ++i) {
    const std::size_t n = size(rng);
    append_frame(s, payload(ctx, n, rng()));
  }
  auto writes = random_splits(s.size(), 700, rng);
  const std::string what = "100 frames of 0..600 bytes in " + std::to_string(writes.size()) +
                           " writes of random sizes (seed " + std::to_string(ctx.seed) + ")";
  return echo_all(ctx, what, s, std::move(writes), kSplitPause);
}

Result large_frames(Context& ctx) {
  const std::uint32_t max = ctx.options.max_frame;
  const std::size_t big = 1U << 20U;
  if (max < big + 1) return skip("needs --max-frame of at least 1 MiB + 1 B");
  std::vector<std::byte> s;
  append_frame(s, pattern(big, ctx.seed));
  append_frame(s, pattern(big + 1, ctx.seed + 1));
  append_frame(s, pattern(7, ctx.seed + 2));
  const std::size_t third = std::min<std::size_t>(max, 3 * big + 5);
  append_frame(s, pattern(third, ctx.seed + 3));
  return echo_all(ctx,
                  "frames of 1 MiB, 1 MiB + 1 B, 7 B and " + size_text(third) +
                      " of pseudo-random bytes (any flipped, dropped or repeated byte differs)",
                  s);
}

Result pipeline(Context& ctx) {
  std::mt19937_64 rng(ctx.seed);
  std::uniform_int_distribution<std::size_t> size(0, 100);
  std::vector<std::byte> s;
  for (int i = 0; i < 1000; ++i) {
    const std::size_t n = size(rng);
    append_frame(s, payload(ctx, n, rng()));
  }
  return echo_all(ctx, "1000 frames of 0..100 bytes in one write, then read back", s, {s.size()});
}

// Several connections at once, each its own payloads at random splits; a
// byte from another connection would differ from what this one sent.
Result concurrent(Context& ctx) {
  constexpr int kConnections = 8;
  std::vector<Result> results(kConnections);
  std::vector<std::thread> threads;
  threads.reserve(kConnections);
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&ctx, &results, c] {
      Context mine{ctx.options, ctx.endpoint, ctx.seed + static_cast<std::uint64_t>(c)};
      std::mt19937_64 rng(mine.seed);
      std::uniform_int_distribution<std::size_t> size(0, 2000);
      std::vector<std::byte> s;
      for (int i = 0; i < 200; ++i) {
        const std::size_t n = size(rng);
        append_frame(s, payload(mine, n, rng()));
      }
      const auto writes = random_splits(s.size(), 8192, rng);
      results[static_cast<std::size_t>(c)] =
          echo_all(mine,
                   "connection " + std::to_string(c) + " of " + std::to_string(kConnections) +
                       ": 200 frames of 0..2000 bytes at random splits",
                   s, writes);
    });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    if (r.status == Status::fail) return r;
  }
  return pass();
}

}  // namespace

void add_frame_cases(CaseList& cases, const Options&) {
  cases.push_back(
      {"1-zero-length-alone", "a zero-length frame is echoed as one", false, zero_alone});
  cases.push_back({"1-zero-length-between", "zero-length frames between others are echoed in place",
                   false, zero_between});
  cases.push_back(
      {"1-zero-length-many", "1000 zero-length frames in a row are all echoed", false, zero_many});
  cases.push_back({"4-split-every-byte", "frames sent one byte per write are echoed whole", false,
                   split_every_byte});
  cases.push_back({"4-split-header-payload", "headers and payloads in separate writes", false,
                   split_header_payload});
  cases.push_back(
      {"4-split-random", "100 frames at seeded random write splits", false, split_random});
  cases.push_back({"6.1-large-frames",
                   "frames of 1 MiB and more come back byte for byte (no flip, drop or repeat)",
                   false, large_frames});
  cases.push_back(
      {"6.1-pipeline-1000", "1000 frames in one write come back in order", false, pipeline});
  cases.push_back({"6.1-concurrent-connections",
                   "8 connections at once, each gets only its own frames, in order", false,
                   concurrent});
}

}  // namespace framed::conform
