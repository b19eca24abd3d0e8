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
  auto echo = echo_of(session, stream, reads);
  // At end of input the header bytes still held come out too: the echo is
  // exactly the input (spec §6.3), whatever the cut.
  const auto tail = session.end_of_input();
  echo.insert(echo.end(), tail.begin(), tail.end());
  RC_ASSERT(echo == stream);
}

RC_GTEST_PROP(EchoSessionProps, WrittenFramesAreCountedAtTheirLastByte, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 200));
  const auto writes = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 50)));
  const auto stream = frames(sizes);
  EchoSession session(kDefaultMaxFrame);
  std::uint64_t counted = 0;
  std::size_t pos = 0;
  for (std::size_t turn = 0; pos < stream.size(); ++turn) {
    const std::size_t n = std::min(stream.size() - pos, writes[turn % writes.size()]);
    counted += session.note_written(std::span(stream).subspan(pos, n));
    pos += n;
    // Frames wholly inside [0, pos): count them independently.
    std::uint64_t whole = 0;
    std::size_t at = 0;
    for (std::size_t size : sizes) {
      if (at + kHeaderSize + size > pos) break;
      at += kHeaderSize + size;
      ++whole;
    }
    RC_ASSERT(counted == whole);
  }
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

TEST(EchoSession, AValidatedHeaderIsEchoedBeforeAnyPayload) {
  const auto stream = frames({5});
  EchoSession session(kDefaultMaxFrame);
  auto used = session.consume(std::span(stream).first(4), false);
  EXPECT_TRUE(used.prefix.empty());
  ASSERT_EQ(used.echo.size(), 4U);
  EXPECT_EQ(used.echo.data(), stream.data());
  // The payload that follows is echoed alone: the header is not repeated.
  used = session.consume(std::span(stream).subspan(4), false);
  EXPECT_TRUE(used.prefix.empty());
  EXPECT_EQ(used.echo.size(), 5U);
  EXPECT_EQ(used.echo.data(), stream.data() + 4);
}

TEST(EchoSession, AnOversizeHeaderIsNeverEchoed) {
  const auto header = encode_header(11);
  EchoSession session(10);
  auto used = session.consume(std::span(header).first(3), false);
  EXPECT_TRUE(used.echo.empty() && used.prefix.empty());
  used = session.consume(std::span(header).subspan(3), false);
  EXPECT_EQ(used.error, DecodeError::frame_too_large);
  EXPECT_TRUE(used.echo.empty() && used.prefix.empty());
  EXPECT_TRUE(session.end_of_input().empty());
}

TEST(EchoSession, EndOfInputReleasesTheHeldHeaderBytes) {
  const auto stream = frames({5});
  EchoSession session(kDefaultMaxFrame);
  (void)session.consume(std::span(stream).first(1), false);
  (void)session.consume(std::span(stream).subspan(1, 2), false);
  const auto tail = session.end_of_input();
  ASSERT_EQ(tail.size(), 3U);
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), stream.begin()));
}

TEST(EchoSession, CompactionKeepsThePendingBytesInOrder) {
  EchoSession session(kDefaultMaxFrame);
  std::vector<std::byte> bytes(600U << 10U);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 7 % 251);
  session.queue(bytes);
  // Past 256 KiB written and half the buffer: the buffer is compacted.
  std::size_t written = 0;
  for (std::size_t step : {100000U, 100000U, 120000U, 10000U}) {
    session.mark_written(step);
    written += step;
    const auto pending = session.pending();
    ASSERT_EQ(pending.size(), bytes.size() - written);
    ASSERT_TRUE(std::equal(pending.begin(), pending.end(), bytes.begin() + static_cast<std::ptrdiff_t>(written)))
        << "after " << written << " bytes written";
  }
  // More bytes queued after a compaction follow the old ones.
  const std::vector<std::byte> more(1000, std::byte{0xEE});
  session.queue(more);
  EXPECT_EQ(session.pending_bytes(), bytes.size() - written + more.size());
  EXPECT_EQ(session.pending().back(), std::byte{0xEE});
  EXPECT_EQ(session.pending().front(), bytes[written]);
}

}  // namespace
}  // namespace framed::server
