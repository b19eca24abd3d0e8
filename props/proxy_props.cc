// Properties of the PROXY header parser for every header and every split.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "framed/proxy.h"
#include "generators.h"
#include "proxy_gen.h"

namespace framed::test {
namespace {

struct Fed {
  ProxyStatus status = ProxyStatus::need_more;
  ProxyError error = ProxyError::none;
  std::size_t consumed = 0;
  std::size_t error_offset = 0;
  ProxyHeader header{};
  bool operator==(const Fed&) const = default;
};

// Feeds `input` in pieces whose sizes cycle through `pattern`, stopping at
// done or error, then finish() at the end of input. Checks the API rules
// on the way (RC_ASSERT).
Fed feed_split(std::span<const std::byte> input, const std::vector<std::size_t>& pattern,
               std::uint16_t v2_max = kDefaultProxyV2Max) {
  ProxyParser p(v2_max);
  Fed out;
  std::size_t pos = 0;
  std::size_t turn = 0;
  while (pos < input.size()) {
    const std::size_t n = std::min(input.size() - pos, pattern[turn++ % pattern.size()]);
    const ProxyResult r = p.feed(input.subspan(pos, n));
    RC_ASSERT(r.consumed <= n);
    pos += r.consumed;
    out.consumed = pos;
    if (r.status == ProxyStatus::need_more) {
      RC_ASSERT(r.consumed == n);
      continue;
    }
    out.status = r.status;
    out.error = p.error();
    out.error_offset = p.error_offset();
    if (r.status == ProxyStatus::done) out.header = p.header();
    // Sticky: the rest is refused untouched.
    const ProxyResult again = p.feed(input.subspan(pos));
    RC_ASSERT(again.status == r.status);
    RC_ASSERT(again.consumed == 0U);
    return out;
  }
  out.error = p.finish();
  out.error_offset = p.error_offset();
  if (out.error != ProxyError::none) out.status = ProxyStatus::error;
  return out;
}

rc::Gen<std::vector<std::size_t>> nonzero_pattern() {
  return rc::gen::map(chunk_pattern(), [](std::vector<std::size_t> p) {
    if (std::all_of(p.begin(), p.end(), [](std::size_t n) { return n == 0; })) p.push_back(1);
    return p;
  });
}

RC_GTEST_PROP(ProxyProps, EncodeThenParseIsTheIdentityAndLeavesThePayload, ()) {
  const SentHeader sent = *sent_header();
  auto wire = encode_proxy(sent);
  const std::size_t header_size = wire.size();
  // Frame bytes follow in the same buffer; not one of them is consumed.
  const auto tail =
      *rc::gen::container<std::vector<std::uint8_t>>(rc::gen::arbitrary<std::uint8_t>());
  for (const auto b : tail) wire.push_back(static_cast<std::byte>(b));
  const Fed got = feed_split(wire, *nonzero_pattern());
  RC_ASSERT(got.status == ProxyStatus::done);
  RC_ASSERT(got.consumed == header_size);
  RC_ASSERT(got.header == sent.header);
}

// Valid headers with bytes changed, dropped or cut: whatever the input,
// every split ends exactly as the whole does.
RC_GTEST_PROP(ProxyProps, AnySplitEndsAsTheWholeDoes, ()) {
  auto wire = encode_proxy(*sent_header());
  const auto edits = *rc::gen::container<std::vector<std::pair<std::size_t, std::uint8_t>>>(
      rc::gen::pair(rc::gen::arbitrary<std::size_t>(), rc::gen::arbitrary<std::uint8_t>()));
  for (const auto& [at, value] : edits) {
    if (wire.empty()) break;
    wire[at % wire.size()] = static_cast<std::byte>(value);
  }
  if (*rc::gen::arbitrary<bool>() && !wire.empty()) {
    wire.resize(*rc::gen::inRange<std::size_t>(0, wire.size()));
  }
  const auto v2_max =
      *rc::gen::elementOf(std::vector<std::uint16_t>{kDefaultProxyV2Max, 0, 12, 100, 65535});
  const Fed whole = feed_split(wire, {wire.size() + 1}, v2_max);
  const Fed split = feed_split(wire, *nonzero_pattern(), v2_max);
  RC_ASSERT(split == whole);
  RC_ASSERT(split.consumed <= wire.size());
  if (whole.status == ProxyStatus::error) RC_ASSERT(whole.error_offset <= wire.size());
}

// Random bytes are almost never a header; the parser rejects them early
// and consumes no more than 107 bytes of v1 or the limit of v2.
RC_GTEST_PROP(ProxyProps, NeverConsumesMoreThanTheFormatBounds, ()) {
  const auto junk =
      *rc::gen::container<std::vector<std::uint8_t>>(rc::gen::arbitrary<std::uint8_t>());
  std::vector<std::byte> wire;
  if (*rc::gen::arbitrary<bool>()) {
    for (const char c : std::string_view("PROXY ")) wire.push_back(static_cast<std::byte>(c));
  }
  for (const auto b : junk) wire.push_back(static_cast<std::byte>(b));
  const Fed got = feed_split(wire, *nonzero_pattern());
  RC_ASSERT(got.consumed <= kProxyV1MaxLine + 16U + kDefaultProxyV2Max);
  if (!wire.empty() && wire[0] == std::byte{'P'}) RC_ASSERT(got.consumed <= kProxyV1MaxLine);
}

}  // namespace
}  // namespace framed::test
