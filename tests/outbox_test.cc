// The output side of a connection without sockets: the outbox's backlog,
// pinned for a completion transport's send, and its count of frames
// written, which must reach a frame only once its last byte is out.
#include "transport/outbox.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "framed/encoder.h"

namespace framed::transport {
namespace {

std::vector<std::byte> frames(const std::vector<std::size_t>& sizes) {
  std::vector<std::byte> stream;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::vector<std::byte> payload(sizes[i], static_cast<std::byte>(i + 1));
    (void)append_frame(stream, payload);
  }
  return stream;
}

RC_GTEST_PROP(OutboxProps, WrittenFramesAreCountedAtTheirLastByte, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 200));
  const auto writes = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 50)));
  const auto stream = frames(sizes);
  Outbox session;
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

// The same count whether bytes leave through the backlog (mark_written)
// or straight from elsewhere (note_written), in any mix.
RC_GTEST_PROP(OutboxProps, BacklogWritesCountFramesLikeDirectWrites, ()) {
  const auto sizes =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 100));
  const auto writes = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 50)));
  const auto stream = frames(sizes);
  Outbox out;
  std::uint64_t counted = 0;
  std::size_t pos = 0;
  for (std::size_t turn = 0; pos < stream.size(); ++turn) {
    const std::size_t n = std::min(stream.size() - pos, writes[turn % writes.size()]);
    const auto piece = std::span(stream).subspan(pos, n);
    if (turn % 2 == 0) {
      counted += out.note_written(piece);
    } else {
      out.queue(piece);
      counted += out.mark_written(n);
    }
    pos += n;
  }
  RC_ASSERT(out.empty());
  RC_ASSERT(counted == sizes.size());
}

TEST(Outbox, BacklogQueuesAndDrains) {
  Outbox session;
  const auto bytes = frames({10});
  session.queue(bytes);
  EXPECT_EQ(session.size(), bytes.size());
  (void)session.mark_written(4);
  EXPECT_EQ(session.pending().size(), bytes.size() - 4);
  EXPECT_EQ(session.pending().data()[0], bytes[4]);
  (void)session.mark_written(bytes.size() - 4);
  EXPECT_EQ(session.size(), 0U);
}

TEST(Outbox, CompactionKeepsThePendingBytesInOrder) {
  Outbox session;
  std::vector<std::byte> bytes(600U << 10U);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 7 % 251);
  session.queue(bytes);
  // Past 256 KiB written and half the buffer: the buffer is compacted.
  std::size_t written = 0;
  for (std::size_t step : {100000U, 100000U, 120000U, 10000U}) {
    (void)session.mark_written(step);
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
  EXPECT_EQ(session.size(), bytes.size() - written + more.size());
  EXPECT_EQ(session.pending().back(), std::byte{0xEE});
  EXPECT_EQ(session.pending().front(), bytes[written]);
}

// A completion backend's send reads the pinned bytes after the call returns:
// they must not move while bytes are queued behind them, and those bytes
// follow them in order whether the send took everything or part.
TEST(Outbox, PinnedBytesStayPutWhileMoreIsQueued) {
  Outbox session;
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
  EXPECT_EQ(session.size(), first.size() + more.size());
  (void)session.mark_written(first.size());
  EXPECT_FALSE(session.pinned());
  ASSERT_EQ(session.size(), more.size());
  EXPECT_TRUE(std::equal(session.pending().begin(), session.pending().end(), more.begin()));
}

TEST(Outbox, AShortPinnedSendKeepsTheRestBeforeWhatWasQueued) {
  Outbox session;
  const auto first = frames({10});
  session.queue(first);
  (void)session.pin();
  const std::vector<std::byte> more(100, std::byte{0xCD});
  session.queue(more);
  (void)session.mark_written(3);
  std::vector<std::byte> want(first.begin() + 3, first.end());
  want.insert(want.end(), more.begin(), more.end());
  const auto pending = session.pending();
  ASSERT_EQ(pending.size(), want.size());
  EXPECT_TRUE(std::equal(pending.begin(), pending.end(), want.begin()));
  // The next pin takes all of it: queued echoes coalesce into one send.
  EXPECT_EQ(session.pin().size(), want.size());
}

}  // namespace
}  // namespace framed::transport
