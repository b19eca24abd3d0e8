// The PROXY header parser (include/framed/proxy.h, spec/PROXY.md): every
// vector of spec/proxy_vectors.txt replayed whole, one byte at a time and at
// every 2-way split, each piece placed against a guard page so a read past
// the span faults; then the API rules the vectors cannot state.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "framed/proxy.h"
#include "guarded_buffer.h"
#include "net/proxy_text.h"
#include "proxy_vectors.h"

namespace framed::test {
namespace {

const std::vector<ProxyVector>& vectors() {
  static const std::vector<ProxyVector> loaded = [] {
    std::string error;
    auto v = load_proxy_vectors(FRAMED_SPEC_DIR "/proxy_vectors.txt", error);
    if (!error.empty()) ADD_FAILURE() << error;
    return v;
  }();
  return loaded;
}

std::vector<std::byte> bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

class ProxyVectorTest : public ::testing::TestWithParam<ProxyVector> {
 protected:
  GuardedBuffer guard_{std::max<std::size_t>(GetParam().input.size(), 1)};

  void run(const std::vector<std::size_t>& split, const std::string& how) {
    const ProxyVector& v = GetParam();
    ProxyParser parser(v.v2_max);
    std::size_t consumed = 0;
    std::string violation;
    const ProxyOutcome got = replay_proxy(
        parser, v.input, split, [this](std::span<const std::byte> b) { return guard_.place(b); },
        consumed, violation);
    EXPECT_TRUE(violation.empty()) << how << ": " << violation;
    EXPECT_EQ(got, v.expected) << how << "\n  expected " << describe(v.expected) << "\n  got      "
                               << describe(got);
    // A header's bytes are consumed, and not one byte after them: those
    // belong to the frame stream. An error consumes up to its offset.
    const std::size_t want = v.expected.end == ProxyOutcome::End::empty ? 0 : v.expected.offset;
    EXPECT_EQ(consumed, want) << how;
  }
};

TEST_P(ProxyVectorTest, Whole) { run({GetParam().input.size()}, "whole"); }

TEST_P(ProxyVectorTest, OneByteAtATime) {
  run(std::vector<std::size_t>(GetParam().input.size(), 1), "1-byte pieces");
}

TEST_P(ProxyVectorTest, EveryTwoWaySplit) {
  const std::size_t n = GetParam().input.size();
  for (std::size_t cut = 0; cut <= n; ++cut) run({cut, n - cut}, "split at " + std::to_string(cut));
}

TEST_P(ProxyVectorTest, EmptyPiecesBetweenBytes) {
  std::vector<std::size_t> split;
  for (std::size_t i = 0; i < GetParam().input.size(); ++i) {
    split.push_back(0);
    split.push_back(1);
  }
  split.push_back(0);
  run(split, "empty pieces between 1-byte pieces");
}

INSTANTIATE_TEST_SUITE_P(Spec, ProxyVectorTest, ::testing::ValuesIn(vectors()),
                         [](const auto& p) { return p.param.name; });

TEST(ProxyFile, CoversEveryErrorAndBothVersions) {
  std::vector<ProxyError> seen;
  int v1 = 0;
  int v2 = 0;
  for (const auto& v : vectors()) {
    if (v.expected.end == ProxyOutcome::End::error) seen.push_back(v.expected.error);
    if (v.expected.header.starts_with("v1")) ++v1;
    if (v.expected.header.starts_with("v2")) ++v2;
  }
  for (std::uint8_t e = 1; e <= 14; ++e) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), static_cast<ProxyError>(e)), seen.end())
        << "no vector ends in " << to_string(static_cast<ProxyError>(e));
  }
  EXPECT_GE(v1, 5);
  EXPECT_GE(v2, 5);
  EXPECT_GE(vectors().size(), 50U);
}

TEST(ProxyParser, ErrorCodesNeverChange) {
  // spec/PROXY.md's table: codes are part of the spec.
  const std::pair<ProxyError, std::string_view> table[] = {
      {ProxyError::none, "none"},
      {ProxyError::not_proxy, "not_proxy"},
      {ProxyError::v1_too_long, "v1_too_long"},
      {ProxyError::v1_bad_line_ending, "v1_bad_line_ending"},
      {ProxyError::v1_bad_protocol, "v1_bad_protocol"},
      {ProxyError::v1_bad_syntax, "v1_bad_syntax"},
      {ProxyError::v1_bad_address, "v1_bad_address"},
      {ProxyError::v1_bad_port, "v1_bad_port"},
      {ProxyError::v2_bad_version, "v2_bad_version"},
      {ProxyError::v2_bad_command, "v2_bad_command"},
      {ProxyError::v2_bad_family, "v2_bad_family"},
      {ProxyError::v2_length_too_short, "v2_length_too_short"},
      {ProxyError::v2_length_too_long, "v2_length_too_long"},
      {ProxyError::v2_bad_tlv, "v2_bad_tlv"},
      {ProxyError::truncated, "truncated"},
  };
  for (std::size_t i = 0; i < std::size(table); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(table[i].first), i);
    EXPECT_EQ(to_string(table[i].first), table[i].second);
  }
  EXPECT_EQ(to_string(static_cast<ProxyError>(200)), "unknown");
}

TEST(ProxyParser, ErrorIsStickyUntilResetWhichKeepsTheLimit) {
  ProxyParser p(20);
  const auto bad = bytes("PROXZ");
  EXPECT_EQ(p.feed(bad).status, ProxyStatus::error);
  EXPECT_EQ(p.error(), ProxyError::not_proxy);
  const auto good = bytes("PROXY UNKNOWN\r\n");
  const ProxyResult again = p.feed(good);
  EXPECT_EQ(again.status, ProxyStatus::error);
  EXPECT_EQ(again.consumed, 0U);
  EXPECT_EQ(p.finish(), ProxyError::not_proxy);
  EXPECT_EQ(p.error_offset(), 5U);
  p.reset();
  EXPECT_EQ(p.v2_max(), 20U);
  EXPECT_EQ(p.error(), ProxyError::none);
  EXPECT_EQ(p.error_offset(), 0U);
  const ProxyResult r = p.feed(good);
  EXPECT_EQ(r.status, ProxyStatus::done);
  EXPECT_EQ(r.consumed, good.size());
}

TEST(ProxyParser, EmptyInputReportsTheCurrentStatus) {
  ProxyParser p;
  EXPECT_EQ(p.feed({}).status, ProxyStatus::need_more);
  EXPECT_EQ(p.finish(), ProxyError::none) << "no byte at all is not a truncated header";
  const auto line = bytes("PROXY UNKNOWN\r\n");
  ASSERT_EQ(p.feed(line).status, ProxyStatus::done);
  const ProxyResult r = p.feed({});
  EXPECT_EQ(r.status, ProxyStatus::done);
  EXPECT_EQ(r.consumed, 0U);
  EXPECT_EQ(p.finish(), ProxyError::none) << "finish() after done is clean";
}

TEST(ProxyParser, LocalKeepsTheRealEndpoints) {
  const auto h = bytes(std::string_view("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16));
  ProxyParser p;
  ASSERT_EQ(p.feed(h).status, ProxyStatus::done);
  EXPECT_EQ(p.header().command, ProxyCommand::local);
  EXPECT_EQ(p.header().version, 2U);
  EXPECT_FALSE(p.header().has_addresses());
}

TEST(ProxyParser, V2AddressesAndPortsInHostOrder) {
  // INET: 10.1.2.3:258 -> 10.4.5.6:772.
  const auto h = bytes(std::string_view(
      "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\x0a\x01\x02\x03\x0a\x04\x05\x06\x01\x02\x03\x04", 28));
  ProxyParser p;
  ASSERT_EQ(p.feed(h).status, ProxyStatus::done);
  const ProxyHeader& got = p.header();
  EXPECT_TRUE(got.has_addresses());
  EXPECT_EQ(got.family, ProxyFamily::tcp4);
  EXPECT_EQ(got.source.port, 258U);
  EXPECT_EQ(got.destination.port, 772U);
  EXPECT_EQ(got.source.bytes[0], 10U);
  EXPECT_EQ(got.source.bytes[3], 3U);
  EXPECT_EQ(got.destination.bytes[3], 6U);
  EXPECT_EQ(net::address_text(got.family, got.source), "10.1.2.3:258");
}

TEST(ProxyParser, HoldsAtMostWhatTheSpecBounds) {
  // 107 bytes of v1 line (v2 needs 16 + 36 of them), a 3-byte TLV header
  // and the result: never a buffer sized by a length the peer sent.
  EXPECT_LE(sizeof(ProxyParser), 107U + 3U + sizeof(ProxyHeader) + 32U);
}

TEST(ProxyParser, V1LineOf107BytesPassesAnd108Fails) {
  std::string line = "PROXY UNKNOWN ";
  line.append(107 - 2 - line.size(), 'x');
  line += "\r\n";
  ASSERT_EQ(line.size(), 107U);
  ProxyParser p;
  EXPECT_EQ(p.feed(bytes(line)).status, ProxyStatus::done);
  line.insert(20, "x");
  p.reset();
  const ProxyResult r = p.feed(bytes(line));
  EXPECT_EQ(r.status, ProxyStatus::error);
  EXPECT_EQ(p.error(), ProxyError::v1_too_long);
  EXPECT_EQ(r.consumed, 107U);
}

TEST(ProxyText, FormatsLikeTheAcceptedPeer) {
  ProxyAddress a;
  a.bytes = {127, 0, 0, 1};
  a.port = 5;
  EXPECT_EQ(net::address_text(ProxyFamily::tcp4, a), "127.0.0.1:5");
  ProxyAddress b;
  b.bytes[15] = 1;
  b.port = 7777;
  EXPECT_EQ(net::address_text(ProxyFamily::tcp6, b), "[::1]:7777");
  EXPECT_EQ(net::address_text(ProxyFamily::unknown, b), "?");
}

}  // namespace
}  // namespace framed::test
