#include "transport/outbox.h"

#include "util/buggify.h"

namespace framed::transport {

void Outbox::queue(std::span<const std::byte> bytes) {
  // Growing out_ while pinned could move the bytes a send is reading.
  auto& into = pinned_ ? more_ : out_;
  into.insert(into.end(), bytes.begin(), bytes.end());
}

std::span<const std::byte> Outbox::pin() noexcept {
  pinned_ = true;
  return pending();
}

std::uint64_t Outbox::mark_written(std::size_t n) {
  const std::uint64_t frames = note_written(pending().first(n));
  head_ += n;
  if (pinned_) {
    pinned_ = false;
    if (!more_.empty()) {
      if (head_ == out_.size()) {
        // The common case: the send took everything, so the bytes queued
        // behind it become the backlog without a copy.
        out_.swap(more_);
        more_.clear();
        head_ = 0;
      } else {
        // A short send: the rest goes first, then what was queued. Inserting
        // may throw bad_alloc like any queue().
        out_.insert(out_.end(), more_.begin(), more_.end());
        more_.clear();
      }
      if (more_.capacity() > (512U << 10U)) more_.shrink_to_fit();
    }
  }
  if (head_ == out_.size()) {
    // Everything is out: reuse the storage from the start, and give back a
    // large buffer so idle connections stay small.
    out_.clear();
    head_ = 0;
    if (out_.capacity() > (512U << 10U)) out_.shrink_to_fit();
  } else if ((head_ >= (256U << 10U) || (head_ > 0 && FRAMED_BUGGIFY(0.5))) &&
             head_ * 2 >= out_.size()) {
    // (Fault point: compact early, so the move is exercised on small data.)
    // Compact once the written prefix dominates, so the buffer stays bounded
    // by the backlog cap rather than growing with everything ever sent.
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  return frames;
}

std::uint64_t Outbox::note_written(std::span<const std::byte> bytes) noexcept {
  std::uint64_t done = 0;
  if (opaque_) return 0;
  while (!bytes.empty()) {
    const DecodeResult r = written_.feed(bytes);
    bytes = bytes.subspan(r.consumed);
    if (r.status == DecodeStatus::chunk && r.frame_end) ++done;
    if (r.status != DecodeStatus::chunk) break;
  }
  return done;
}

}  // namespace framed::transport
