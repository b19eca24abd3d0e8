// libFuzzer target: decodes the stream whole and in chunks chosen by the
// input, checks the decoder's contract on every call, and compares both
// outcomes (frames, partial payload, end, bytes consumed) with the reference
// decoder. Any disagreement aborts.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "drive.h"
#include "fuzz_input.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "frame_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace framed;
  using namespace framed::test;
  fuzz::FuzzInput in;
  if (!fuzz::parse_fuzz_input({reinterpret_cast<const std::byte*>(data), size}, in)) {
    return 0;
  }
  const Outcome expected = reference_decode(in.limit, in.stream);
  const DriveResult whole = decode_whole(in.limit, in.stream);
  const DriveResult chunked = decode_chunked(in.limit, in.stream, in.pattern);
  if (!whole.violation.empty()) fail("contract (whole)", whole.violation);
  if (!chunked.violation.empty()) fail("contract (chunked)", chunked.violation);
  if (!(whole.outcome == expected)) {
    fail("whole differs from reference", describe(whole.outcome) + " vs " + describe(expected));
  }
  if (!(chunked.outcome == expected)) {
    fail("chunked differs from reference", describe(chunked.outcome) + " vs " + describe(expected));
  }
  // The driver checks this too; stated here against the reference so that
  // the fuzzer's own verdict covers it: no byte past a frame_too_large
  // offset is consumed, every other byte is, and offset() agrees.
  const std::uint64_t must_consume = expected_consumed(expected, in.stream.size());
  for (const DriveResult* r : {&whole, &chunked}) {
    if (r->consumed != must_consume || r->offset != must_consume) {
      fail("bytes consumed differ from reference",
           std::to_string(r->consumed) + " consumed, offset " + std::to_string(r->offset) +
               ", expected " + std::to_string(must_consume));
    }
  }
  return 0;
}
