#include "server/echo_session.h"

namespace framed::server {

EchoSession::Consumed EchoSession::consume(std::span<const std::byte> in, bool stop_at_frame_end) {
  Consumed result;
  for (;;) {
    const DecodeResult r = decoder_.feed(in.subspan(result.bytes));
    result.bytes += r.consumed;
    if (r.status == DecodeStatus::error) {
      result.error = decoder_.error();
      return result;
    }
    if (r.status == DecodeStatus::need_more) return result;
    // The header goes out with the first chunk, so a frame the peer never
    // finishes still echoes exactly the bytes it did send.
    if (r.chunk_offset == 0) {
      const auto header = encode_header(r.frame_length);
      out_.insert(out_.end(), header.begin(), header.end());
    }
    out_.insert(out_.end(), r.payload.begin(), r.payload.end());
    if (r.frame_end) {
      ++frames_;
      if (stop_at_frame_end) return result;
    }
  }
}

void EchoSession::mark_written(std::size_t n) noexcept {
  head_ += n;
  if (head_ == out_.size()) {
    // Everything is out: reuse the storage from the start, and give back a
    // large buffer so idle connections stay small.
    out_.clear();
    head_ = 0;
    if (out_.capacity() > (512U << 10U)) out_.shrink_to_fit();
  } else if (head_ >= (256U << 10U) && head_ * 2 >= out_.size()) {
    // Compact once the written prefix dominates, so the buffer stays bounded
    // by the backlog cap rather than growing with everything ever sent.
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

}  // namespace framed::server
