// libFuzzer target for the PROXY header parser: parses the stream whole,
// one byte at a time and in pieces chosen by the input, checks the parser's
// contract on every call, and requires the three to end identically (same
// status, error, offset, bytes consumed and header). Any disagreement
// aborts. Exposes proxy_fuzz_outcome() for the corpus replay.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "framed/proxy.h"
#include "proxy_fuzz_input.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "proxy_fuzzer: %s %s\n", what, detail.c_str());
  std::abort();
}

struct End {
  framed::ProxyStatus status = framed::ProxyStatus::need_more;
  framed::ProxyError error = framed::ProxyError::none;
  std::size_t offset = 0;
  std::size_t consumed = 0;
  framed::ProxyHeader header{};
  bool operator==(const End&) const = default;
};

// Feeds `stream` in pieces cycling through `pattern` (empty: whole).
End parse(std::uint16_t v2_max, std::span<const std::byte> stream,
          const std::vector<std::size_t>& pattern) {
  using namespace framed;
  ProxyParser p(v2_max);
  End end;
  std::size_t pos = 0;
  std::size_t turn = 0;
  std::size_t empty_run = 0;
  while (pos < stream.size()) {
    std::size_t n = pattern.empty() ? stream.size() - pos : pattern[turn++ % pattern.size()];
    n = std::min(n, stream.size() - pos);
    // A pattern of only zeros would never advance.
    if (n == 0 && ++empty_run > pattern.size()) n = 1;
    if (n != 0) empty_run = 0;
    const ProxyResult r = p.feed(stream.subspan(pos, n));
    if (r.consumed > n) fail("consumed more than the piece");
    pos += r.consumed;
    if (p.offset() != pos) fail("offset() differs from bytes consumed");
    if (r.status == ProxyStatus::need_more) {
      if (r.consumed != n) fail("need_more without consuming the piece");
      continue;
    }
    const ProxyResult again = p.feed(stream.subspan(pos));
    if (again.status != r.status || again.consumed != 0) fail("end is not sticky");
    end.status = r.status;
    end.error = p.error();
    end.offset = p.error_offset();
    end.consumed = pos;
    if (r.status == ProxyStatus::done) {
      end.header = p.header();
      if (p.error() != ProxyError::none) fail("done with an error set");
    } else if (p.error() == ProxyError::none || p.error_offset() != pos) {
      fail("error without a name, or its offset is not the bytes consumed");
    }
    break;
  }
  if (end.status == ProxyStatus::need_more) {
    end.consumed = pos;
    end.error = p.finish();
    end.offset = p.error_offset();
    if (end.error != ProxyError::none) end.status = ProxyStatus::error;
    if ((end.error == ProxyError::none) != (pos == 0)) fail("finish() disagrees with the input");
  }
  // What the format bounds: a v1 line, or v2's 16 bytes plus the limit.
  const std::size_t bound =
      !stream.empty() && stream[0] == std::byte{'P'} ? framed::kProxyV1MaxLine : 16U + v2_max;
  if (end.consumed > bound) fail("consumed past the format's bound");
  return end;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  framed::fuzz::ProxyFuzzInput in;
  if (!framed::fuzz::parse_proxy_fuzz_input({reinterpret_cast<const std::byte*>(data), size}, in)) {
    return 0;
  }
  const End whole = parse(in.v2_max, in.stream, {});
  const End bytes = parse(in.v2_max, in.stream, {1});
  const End pieces = parse(in.v2_max, in.stream, in.pattern);
  if (!(whole == bytes)) fail("byte by byte differs from whole");
  if (!(whole == pieces)) fail("pieces differ from whole");
  return 0;
}
