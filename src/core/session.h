// The input side of one connection, free of sockets: a Decoder turning input
// into Chunk events (a validated header at once, payload as it arrives,
// headers split across reads rebuilt). The output side (the backlog and the
// count of frames written) is transport/outbox.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "framed/decoder.h"
#include "framed/server.h"

namespace framed::core {

class Session {
 public:
  explicit Session(std::uint32_t max_frame) noexcept : decoder_(max_frame) {}

  struct Consumed {
    std::size_t bytes = 0;  // Input bytes used; the rest is unread.
    DecodeError error = DecodeError::none;
  };

  // Decodes `in`, calling `on_chunk(const Chunk&)` for each event in order
  // (it returns false to stop right after that event, leaving the rest of
  // `in` unconsumed):
  // a frame's first event has `first` set and its header (viewing `in` when
  // the 4 bytes lie there, else storage owned by the session, valid until
  // the next read()); payload views `in`. A header completed with no payload
  // yet is reported at once (first, empty payload). With
  // `stop_at_frame_end`, stops right after the frame in progress ends. After
  // a decoder error nothing more is consumed.
  template <typename OnChunk>
  Consumed read(std::span<const std::byte> in, bool stop_at_frame_end, OnChunk&& on_chunk);

  // The input ended: the 1 to 3 header bytes of a frame begun but not yet
  // validated (a view of the decoder's storage), else empty.
  [[nodiscard]] std::span<const std::byte> end_of_input() const noexcept {
    return decoder_.partial_header();
  }

  // True when part of a frame has been consumed but not all of it.
  [[nodiscard]] bool in_frame() const noexcept { return decoder_.in_frame(); }
  [[nodiscard]] const Decoder& decoder() const noexcept { return decoder_; }
  // Frames whose last byte has been consumed.
  [[nodiscard]] std::uint64_t frames_done() const noexcept { return frames_; }

 private:
  Decoder decoder_;
  std::array<std::byte, kHeaderSize> prefix_{};
  bool header_sent_ = false;  // The current frame's first event was reported.
  std::uint64_t frames_ = 0;
};

template <typename OnChunk>
Session::Consumed Session::read(std::span<const std::byte> in, bool stop_at_frame_end,
                                OnChunk&& on_chunk) {
  Consumed result;
  // `header_end` indexes `in` just past a header's 4th byte. With 4 or more
  // bytes before it, the header lies whole in `in`; otherwise it began in an
  // earlier input (so this is the start of `in`) and is rebuilt.
  auto header_view = [&](std::size_t header_end) -> std::span<const std::byte> {
    if (header_end >= kHeaderSize) return in.subspan(header_end - kHeaderSize, kHeaderSize);
    prefix_ = encode_header(decoder_.frame_length());
    return prefix_;
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
      // so report it now rather than when (if ever) the payload starts.
      if (decoder_.in_payload() && !header_sent_ &&
          decoder_.payload_remaining() == decoder_.frame_length()) {
        header_sent_ = true;
        Chunk c;
        c.frame_length = decoder_.frame_length();
        c.header = header_view(result.bytes);
        c.payload = in.subspan(result.bytes, 0);
        c.first = true;
        (void)on_chunk(c);
      }
      break;
    }
    const auto payload_at = static_cast<std::size_t>(r.payload.data() - in.data());
    Chunk c;
    c.frame_length = r.frame_length;
    c.offset = r.chunk_offset;
    c.payload = r.payload;
    c.last = r.frame_end;
    if (!header_sent_) {
      c.first = true;
      c.header = header_view(payload_at);
    }
    header_sent_ = !r.frame_end;
    if (r.frame_end) ++frames_;
    const bool more = on_chunk(c);
    if (!more || (r.frame_end && stop_at_frame_end)) break;
  }
  return result;
}

}  // namespace framed::core
