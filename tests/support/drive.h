// Drives a Decoder over a whole stream split into chunks, checking the API
// contract on every call, and collects the outcome. Shared by the unit tests,
// the property tests and the fuzzer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "spec_vectors.h"

namespace framed::test {

struct DriveResult {
  Outcome outcome;
  // Empty when every call kept the contract; otherwise what went wrong first.
  std::string violation;
  // The sum of DecodeResult::consumed over all feed() calls, and the
  // decoder's offset() after finish(). The driver already checks both against
  // expected_consumed(); they are exposed so tests can assert them directly.
  std::uint64_t consumed = 0;
  std::uint64_t offset = 0;
};

// Moves a chunk to where it will be fed (for instance against a guard page)
// and returns the moved copy, which must stay valid until the next call.
using ChunkPlacer = std::function<std::span<const std::byte>(std::span<const std::byte>)>;

// Feeds `input` to a fresh Decoder(limit) in chunks whose sizes cycle through
// `pattern` (a zero size feeds an empty span), then calls finish(). An empty
// pattern, or one of only zeros, feeds the input whole. When `place` is set,
// each chunk is fed from where it puts it. Besides the per-call contract, it
// checks at the end that the bytes consumed equal offset(), and equal
// error_offset() after frame_too_large (no byte past the oversize header is
// consumed) or the whole input otherwise.
DriveResult decode_chunked(std::uint32_t limit, std::span<const std::byte> input,
                           std::span<const std::size_t> pattern, const ChunkPlacer& place = {});

// Same as decode_chunked with the whole input in one chunk.
DriveResult decode_whole(std::uint32_t limit, std::span<const std::byte> input);

// A deliberately simple whole-buffer decoder, written from the spec and
// sharing no code with the real one, used as the oracle.
Outcome reference_decode(std::uint32_t limit, std::span<const std::byte> input);

}  // namespace framed::test
