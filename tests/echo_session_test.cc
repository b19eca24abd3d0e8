// The server's echo logic without sockets: whatever the split of the input,
// the echo described by consume() is exactly the bytes of the frames read.
#include "server/echo_session.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "framed/encoder.h"

namespace framed::server {
namespace {

// Feeds `stream` in reads of the given sizes (cycled) and returns the echo
// the server would send: each consume()'s prefix then echo.
std::vector<std::byte> echo_of(EchoSession& session, const std::vector<std::byte>& stream,
                               const std::vector<std::size_t>& reads, bool stop = false) {
  std::vector<std::byte> out;
  std::size_t pos = 0;
  for (std::size_t turn = 0; pos < stream.size(); ++turn) {
    const std::size_t n =
        std::min(stream.size() - pos, std::max<std::size_t>(1, reads[turn % reads.size()]));
    const auto used = session.consume(std::span(stream).subspan(pos, n), stop);
    out.insert(out.end(), used.prefix.begin(), used.prefix.end());
    out.insert(out.end(), used.echo.begin(), used.echo.end());
    pos += n;
    if (used.error != DecodeError::none || (stop && !session.in_frame() && used.bytes < n)) break;
  }
  return out;
}

std::vector<std::byte> frames(const std::vector<std::size_t>& sizes) {
  std::vector<std::byte> stream;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::vector<std::byte> payload(sizes[i], static_cast<std::byte>(i + 1));
    (void)append_frame(stream, payload);
  }
  return stream;
}

RC_GTEST_PROP(EchoSessionProps, EchoIsTheInputWhateverTheReads, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 300));
  const auto reads = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 40)));
  const auto stream = frames(sizes);
  EchoSession session(kDefaultMaxFrame);
  RC_ASSERT(echo_of(session, stream, reads) == stream);
  RC_ASSERT(session.frames_done() == sizes.size());
}

RC_GTEST_PROP(EchoSessionProps, EchoStopsBeforeAnOversizeFrame, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 50));
  const auto reads = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 12)));
  const auto good = frames(sizes);
  auto stream = good;
  const auto bad = encode_header(51);
  stream.insert(stream.end(), bad.begin(), bad.end());
  stream.insert(stream.end(), 60, std::byte{9});
  EchoSession session(50);
  RC_ASSERT(echo_of(session, stream, reads) == good);
  RC_ASSERT(session.decoder().error() == DecodeError::frame_too_large);
}

RC_GTEST_PROP(EchoSessionProps, TruncatedInputEchoesUpToWhereItStopped, ()) {
  const auto sizes = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 100)));
  const auto reads = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 30)));
  auto stream = frames(sizes);
  const auto cut = *rc::gen::inRange<std::size_t>(0, stream.size());
  stream.resize(cut);
  EchoSession session(kDefaultMaxFrame);
  const auto echo = echo_of(session, stream, reads);
  // Everything but a trailing header with no payload after it yet: a header
  // is held back until validated and sent with its frame's first bytes.
  RC_ASSERT(echo.size() <= stream.size());
  RC_ASSERT(stream.size() - echo.size() <= kHeaderSize);
  RC_ASSERT(std::equal(echo.begin(), echo.end(), stream.begin()));
}

TEST(EchoSession, StopAtFrameEndLeavesTheRestUnconsumed) {
  const auto stream = frames({3, 2});
  EchoSession session(kDefaultMaxFrame);
  const auto used = session.consume(stream, true);
  EXPECT_EQ(used.bytes, 7U);
  EXPECT_EQ(used.echo.size(), 7U);
  EXPECT_TRUE(used.prefix.empty());
}

TEST(EchoSession, HeaderSplitAcrossReadsComesBackAsAPrefix) {
  const auto stream = frames({5});
  EchoSession session(kDefaultMaxFrame);
  auto used = session.consume(std::span(stream).first(2), false);
  EXPECT_TRUE(used.prefix.empty() && used.echo.empty());
  used = session.consume(std::span(stream).subspan(2), false);
  ASSERT_EQ(used.prefix.size(), 4U);
  EXPECT_TRUE(std::equal(used.prefix.begin(), used.prefix.end(), stream.begin()));
  EXPECT_EQ(used.echo.size(), 5U);
  EXPECT_EQ(used.echo.data(), stream.data() + 4);
}

TEST(EchoSession, BacklogQueuesAndDrains) {
  EchoSession session(kDefaultMaxFrame);
  const auto bytes = frames({10});
  session.queue(bytes);
  EXPECT_EQ(session.pending_bytes(), bytes.size());
  session.mark_written(4);
  EXPECT_EQ(session.pending().size(), bytes.size() - 4);
  EXPECT_EQ(session.pending().data()[0], bytes[4]);
  session.mark_written(bytes.size() - 4);
  EXPECT_EQ(session.pending_bytes(), 0U);
}

}  // namespace
}  // namespace framed::server
