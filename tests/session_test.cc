// The frame side of a connection without sockets: Session's chunk events,
// and the echo a handler sending `header` then `payload` of every chunk
// makes of them: whatever the split of the input, exactly the bytes read.
#include "core/session.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "framed/encoder.h"

namespace framed::core {
namespace {

// Session plus the echo handler's logic, collecting what it would send.
struct Echo {
  explicit Echo(std::uint32_t max_frame) : session(max_frame) {}

  struct Result {
    std::size_t bytes = 0;
    DecodeError error = DecodeError::none;
    std::vector<std::byte> sent;
    std::vector<Chunk> chunks;
  };

  Result consume(std::span<const std::byte> in, bool stop) {
    Result r;
    const auto used = session.read(in, stop, [&](const Chunk& c) {
      if (c.first) r.sent.insert(r.sent.end(), c.header.begin(), c.header.end());
      r.sent.insert(r.sent.end(), c.payload.begin(), c.payload.end());
      r.chunks.push_back(c);
      return true;
    });
    r.bytes = used.bytes;
    r.error = used.error;
    return r;
  }

  Session session;
};

// Feeds `stream` in reads of the given sizes (cycled) and returns the echo
// the server would send: each consume()'s prefix then echo.
std::vector<std::byte> echo_of(Echo& echo, const std::vector<std::byte>& stream,
                               const std::vector<std::size_t>& reads, bool stop = false) {
  std::vector<std::byte> out;
  std::size_t pos = 0;
  for (std::size_t turn = 0; pos < stream.size(); ++turn) {
    const std::size_t n =
        std::min(stream.size() - pos, std::max<std::size_t>(1, reads[turn % reads.size()]));
    const auto used = echo.consume(std::span(stream).subspan(pos, n), stop);
    out.insert(out.end(), used.sent.begin(), used.sent.end());
    pos += n;
    if (used.error != DecodeError::none || (stop && !echo.session.in_frame() && used.bytes < n)) {
      break;
    }
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

RC_GTEST_PROP(SessionProps, EchoIsTheInputWhateverTheReads, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 300));
  const auto reads = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 40)));
  const auto stream = frames(sizes);
  Echo echo(kDefaultMaxFrame);
  RC_ASSERT(echo_of(echo, stream, reads) == stream);
  RC_ASSERT(echo.session.frames_done() == sizes.size());
}

RC_GTEST_PROP(SessionProps, EchoStopsBeforeAnOversizeFrame, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 50));
  const auto reads = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 12)));
  const auto good = frames(sizes);
  auto stream = good;
  const auto bad = encode_header(51);
  stream.insert(stream.end(), bad.begin(), bad.end());
  stream.insert(stream.end(), 60, std::byte{9});
  Echo echo(50);
  RC_ASSERT(echo_of(echo, stream, reads) == good);
  RC_ASSERT(echo.session.decoder().error() == DecodeError::frame_too_large);
}

RC_GTEST_PROP(SessionProps, TruncatedInputEchoesUpToWhereItStopped, ()) {
  const auto sizes = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 100)));
  const auto reads = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 30)));
  auto stream = frames(sizes);
  const auto cut = *rc::gen::inRange<std::size_t>(0, stream.size());
  stream.resize(cut);
  Echo echo(kDefaultMaxFrame);
  auto sent = echo_of(echo, stream, reads);
  // At end of input the header bytes still held come out too: the echo is
  // exactly the input (spec §6.3), whatever the cut.
  const auto tail = echo.session.end_of_input();
  sent.insert(sent.end(), tail.begin(), tail.end());
  RC_ASSERT(sent == stream);
}

TEST(Session, StopAtFrameEndLeavesTheRestUnconsumed) {
  const auto stream = frames({3, 2});
  Echo echo(kDefaultMaxFrame);
  const auto used = echo.consume(stream, true);
  EXPECT_EQ(used.bytes, 7U);
  EXPECT_EQ(used.sent.size(), 7U);
}

TEST(Session, AHeaderSplitAcrossReadsIsRebuilt) {
  const auto stream = frames({5});
  Echo echo(kDefaultMaxFrame);
  auto used = echo.consume(std::span(stream).first(2), false);
  EXPECT_TRUE(used.chunks.empty());
  used = echo.consume(std::span(stream).subspan(2), false);
  ASSERT_EQ(used.chunks.size(), 1U);
  const Chunk& c = used.chunks[0];
  EXPECT_TRUE(c.first && c.last);
  ASSERT_EQ(c.header.size(), 4U);
  EXPECT_TRUE(std::equal(c.header.begin(), c.header.end(), stream.begin()));
  EXPECT_EQ(c.payload.size(), 5U);
  EXPECT_EQ(c.payload.data(), stream.data() + 4);
}

TEST(Session, AValidatedHeaderIsReportedBeforeAnyPayload) {
  const auto stream = frames({5});
  Echo echo(kDefaultMaxFrame);
  auto used = echo.consume(std::span(stream).first(4), false);
  ASSERT_EQ(used.chunks.size(), 1U);
  EXPECT_TRUE(used.chunks[0].first);
  EXPECT_FALSE(used.chunks[0].last);
  EXPECT_TRUE(used.chunks[0].payload.empty());
  EXPECT_EQ(used.chunks[0].header.data(), stream.data()) << "a view of the input";
  // The payload that follows is not reported as a new frame.
  used = echo.consume(std::span(stream).subspan(4), false);
  ASSERT_EQ(used.chunks.size(), 1U);
  EXPECT_FALSE(used.chunks[0].first);
  EXPECT_TRUE(used.chunks[0].last);
  EXPECT_EQ(used.sent.size(), 5U);
  EXPECT_EQ(used.chunks[0].payload.data(), stream.data() + 4);
}

TEST(Session, AnOversizeHeaderIsNeverReported) {
  const auto header = encode_header(11);
  Echo echo(10);
  auto used = echo.consume(std::span(header).first(3), false);
  EXPECT_TRUE(used.chunks.empty());
  used = echo.consume(std::span(header).subspan(3), false);
  EXPECT_EQ(used.error, DecodeError::frame_too_large);
  EXPECT_TRUE(used.chunks.empty());
  EXPECT_TRUE(echo.session.end_of_input().empty());
}

TEST(Session, EndOfInputReleasesTheHeldHeaderBytes) {
  const auto stream = frames({5});
  Echo echo(kDefaultMaxFrame);
  (void)echo.consume(std::span(stream).first(1), false);
  (void)echo.consume(std::span(stream).subspan(1, 2), false);
  const auto tail = echo.session.end_of_input();
  ASSERT_EQ(tail.size(), 3U);
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), stream.begin()));
}

}  // namespace
}  // namespace framed::core
