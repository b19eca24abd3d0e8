// The frame side of a connection without sockets: Session's chunk events,
// and the echo a handler sending `header` then `payload` of every chunk
// makes of them: whatever the split of the input, exactly the bytes read.
#include "server/session.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "framed/encoder.h"

namespace framed::server {
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

RC_GTEST_PROP(SessionProps, WrittenFramesAreCountedAtTheirLastByte, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 200));
  const auto writes = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 50)));
  const auto stream = frames(sizes);
  Session session(kDefaultMaxFrame);
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

TEST(Session, BacklogQueuesAndDrains) {
  Session session(kDefaultMaxFrame);
  const auto bytes = frames({10});
  session.queue(bytes);
  EXPECT_EQ(session.pending_bytes(), bytes.size());
  session.mark_written(4);
  EXPECT_EQ(session.pending().size(), bytes.size() - 4);
  EXPECT_EQ(session.pending().data()[0], bytes[4]);
  session.mark_written(bytes.size() - 4);
  EXPECT_EQ(session.pending_bytes(), 0U);
}

TEST(Session, CompactionKeepsThePendingBytesInOrder) {
  Session session(kDefaultMaxFrame);
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
    ASSERT_TRUE(std::equal(pending.begin(), pending.end(),
                           bytes.begin() + static_cast<std::ptrdiff_t>(written)))
        << "after " << written << " bytes written";
  }
  // More bytes queued after a compaction follow the old ones.
  const std::vector<std::byte> more(1000, std::byte{0xEE});
  session.queue(more);
  EXPECT_EQ(session.pending_bytes(), bytes.size() - written + more.size());
  EXPECT_EQ(session.pending().back(), std::byte{0xEE});
  EXPECT_EQ(session.pending().front(), bytes[written]);
}

// A completion backend's send reads the pinned bytes after the call returns:
// they must not move while bytes are queued behind them, and those bytes
// follow them in order whether the send took everything or part.
TEST(Session, PinnedBytesStayPutWhileMoreIsQueued) {
  Session session(kDefaultMaxFrame);
  const auto first = frames({10});
  session.queue(first);
  const auto pinned = session.pin();
  ASSERT_TRUE(session.pinned());
  ASSERT_EQ(pinned.size(), first.size());
  const std::byte* where = pinned.data();
  // Enough to reallocate any vector the pinned bytes lived in.
  const std::vector<std::byte> more(1U << 20U, std::byte{0xAB});
  session.queue(more);
  EXPECT_EQ(pinned.data(), where);
  EXPECT_TRUE(std::equal(pinned.begin(), pinned.end(), first.begin()));
  EXPECT_EQ(session.pending_bytes(), first.size() + more.size());
  session.mark_written(first.size());
  EXPECT_FALSE(session.pinned());
  ASSERT_EQ(session.pending_bytes(), more.size());
  EXPECT_TRUE(std::equal(session.pending().begin(), session.pending().end(), more.begin()));
}

TEST(Session, AShortPinnedSendKeepsTheRestBeforeWhatWasQueued) {
  Session session(kDefaultMaxFrame);
  const auto first = frames({10});
  session.queue(first);
  (void)session.pin();
  const std::vector<std::byte> more(100, std::byte{0xCD});
  session.queue(more);
  session.mark_written(3);
  std::vector<std::byte> want(first.begin() + 3, first.end());
  want.insert(want.end(), more.begin(), more.end());
  const auto pending = session.pending();
  ASSERT_EQ(pending.size(), want.size());
  EXPECT_TRUE(std::equal(pending.begin(), pending.end(), want.begin()));
  // The next pin takes all of it: queued echoes coalesce into one send.
  EXPECT_EQ(session.pin().size(), want.size());
}

}  // namespace
}  // namespace framed::server
