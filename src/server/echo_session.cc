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
  // Adds [from, to) of `in` to the echo, after the held header if any.
  auto extend = [&](std::size_t from, std::size_t to) {
    if (!started) {
      begin = from;
      started = true;
    }
    end = to;
  };
  // Echoes the header of the frame now in its payload, once. `header_end`
  // indexes `in` just past the header's 4th byte. With 4 or more bytes
  // before it, the header lies whole in `in`; otherwise it began in an
  // earlier input (so this is the start of `in`) and is rebuilt.
  auto echo_header = [&](std::size_t header_end) {
    header_echoed_ = true;
    if (header_end >= kHeaderSize) {
      extend(header_end - kHeaderSize, header_end);
    } else {
      prefix_ = encode_header(decoder_.frame_length());
      result.prefix = prefix_;
      extend(header_end, header_end);
    }
  };
  for (;;) {
    const std::size_t at = result.bytes;
    const DecodeResult r = decoder_.feed(in.subspan(at));
    result.bytes += r.consumed;
    if (r.status == DecodeStatus::error) {
      result.error = decoder_.error();
      break;
    }
    if (r.status == DecodeStatus::need_more) {
      // A header completed with no payload byte after it yet: it is valid,
      // so echo it now rather than when (if ever) the payload starts.
      if (decoder_.in_payload() && !header_echoed_ &&
          decoder_.payload_remaining() == decoder_.frame_length()) {
        echo_header(result.bytes);
      }
      break;
    }
    const auto payload_at = static_cast<std::size_t>(r.payload.data() - in.data());
    if (r.chunk_offset == 0 && !header_echoed_) echo_header(payload_at);
    extend(payload_at, payload_at + r.payload.size());
    if (r.frame_end) {
      ++frames_;
      header_echoed_ = false;
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

std::uint64_t EchoSession::note_written(std::span<const std::byte> bytes) noexcept {
  std::uint64_t done = 0;
  while (!bytes.empty()) {
    const DecodeResult r = written_.feed(bytes);
    bytes = bytes.subspan(r.consumed);
    if (r.status == DecodeStatus::chunk && r.frame_end) ++done;
    if (r.status != DecodeStatus::chunk) break;
  }
  return done;
}

}  // namespace framed::server
