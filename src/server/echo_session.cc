#include "server/echo_session.h"

namespace framed::server {

EchoSession::Consumed EchoSession::consume(std::span<const std::byte> in, bool stop_at_frame_end) {
  Consumed result;
  // The echo is one contiguous run of the input, [begin, end): between two
  // chunks of one read there are only headers and payloads of valid frames.
  // Only a header split across reads must be rebuilt, and only at the start.
  std::size_t begin = 0;
  std::size_t end = 0;
  bool started = false;
  for (;;) {
    const std::size_t at = result.bytes;
    const DecodeResult r = decoder_.feed(in.subspan(at));
    result.bytes += r.consumed;
    if (r.status == DecodeStatus::error) {
      result.error = decoder_.error();
      break;
    }
    if (r.status == DecodeStatus::need_more) break;
    const auto payload_at = static_cast<std::size_t>(r.payload.data() - in.data());
    std::size_t start = payload_at;
    if (r.chunk_offset == 0) {
      if (payload_at - at == kHeaderSize) {
        start = payload_at - kHeaderSize;  // The header is in this input.
      } else {
        prefix_ = encode_header(r.frame_length);
        result.prefix = prefix_;
      }
    }
    if (!started) {
      begin = start;
      started = true;
    }
    end = payload_at + r.payload.size();
    if (r.frame_end) {
      ++frames_;
      if (stop_at_frame_end) break;
    }
  }
  if (started) result.echo = in.subspan(begin, end - begin);
  return result;
}

void EchoSession::queue(std::span<const std::byte> bytes) {
  out_.insert(out_.end(), bytes.begin(), bytes.end());
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
