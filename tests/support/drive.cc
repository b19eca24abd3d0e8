#include "drive.h"

#include <numeric>
#include <utility>

namespace framed::test {

DriveResult decode_chunked(std::uint32_t limit, std::span<const std::byte> input,
                           std::span<const std::size_t> pattern, const ChunkPlacer& place) {
  DriveResult out;
  Decoder decoder(limit);
  const bool whole = std::accumulate(pattern.begin(), pattern.end(), std::size_t{0}) == 0;
  std::size_t pos = 0;
  std::size_t turn = 0;
  bool in_frame = false;
  std::uint64_t consumed_total = 0;
  auto violate = [&](const std::string& why) {
    if (out.violation.empty()) {
      out.violation = why + " at stream offset " + std::to_string(consumed_total);
    }
  };

  bool stopped = false;
  while (!stopped) {
    std::size_t size = input.size() - pos;
    if (!whole) size = std::min(size, pattern[turn++ % pattern.size()]);
    std::span<const std::byte> chunk = input.subspan(pos, size);
    if (place) chunk = place(chunk);
    pos += size;
    for (;;) {
      const DecodeResult r = decoder.feed(chunk);
      if (r.consumed > chunk.size()) {
        violate("consumed more than the input");
        return out;
      }
      if (r.status == DecodeStatus::chunk) {
        const std::byte* lo = chunk.data();
        const std::byte* hi = chunk.data() + r.consumed;
        if (!r.payload.empty() &&
            (r.payload.data() < lo || r.payload.data() + r.payload.size() > hi)) {
          violate("payload view outside the consumed input");
        }
        // A call consumes up to the end of the chunk it reports, no further.
        if (!r.payload.empty() && r.payload.data() + r.payload.size() != hi) {
          violate("consumed past the end of the chunk");
        }
        // Only a zero-length frame is reported as an empty chunk. Any other
        // empty chunk is a violation, and one that consumed nothing would
        // make the caller loop forever, so the drive stops there.
        if (r.payload.empty() && !(r.frame_end && r.frame_length == 0)) {
          violate("empty chunk that is not a zero-length frame");
          if (r.consumed == 0) return out;
        }
        if (r.chunk_offset == 0 && !in_frame) {
          out.outcome.frames.emplace_back();
          in_frame = true;
        }
        if (!in_frame || r.chunk_offset != out.outcome.frames.back().size()) {
          violate("chunk_offset does not follow the previous chunk");
        }
        auto& frame = out.outcome.frames.back();
        frame.insert(frame.end(), r.payload.begin(), r.payload.end());
        if (r.frame_end) {
          if (frame.size() != r.frame_length) violate("frame_end before frame_length bytes");
          in_frame = false;
        }
      } else if (r.status == DecodeStatus::need_more && r.consumed != chunk.size()) {
        violate("need_more without consuming all input");
      }
      consumed_total += r.consumed;
      if (consumed_total != decoder.offset()) violate("offset() disagrees with consumed");
      chunk = chunk.subspan(r.consumed);
      if (r.status == DecodeStatus::error) {
        const DecodeResult again = decoder.feed(chunk);
        if (again.status != DecodeStatus::error || again.consumed != 0) {
          violate("error is not sticky");
        }
        stopped = true;
        break;
      }
      if (r.status == DecodeStatus::need_more) break;
    }
    if (pos == input.size() && !stopped) break;
  }
  out.outcome.error = decoder.finish();
  out.outcome.error_offset = decoder.error_offset();
  if (out.outcome.error != DecodeError::none && in_frame) {
    // A frame cut by an error is not a frame: what was streamed of it is
    // reported apart, as the partial payload.
    out.outcome.partial = std::move(out.outcome.frames.back());
    out.outcome.frames.pop_back();
  }
  out.consumed = consumed_total;
  out.offset = decoder.offset();
  // Checked after finish(), whatever path each call took: a decoder that
  // reports too much consumed and advances offset() with it keeps the two in
  // step, so only the comparison with the error offset can catch it.
  if (out.offset != out.consumed) violate("offset() disagrees with consumed after finish()");
  if (out.outcome.error != DecodeError::none && out.offset != out.outcome.error_offset) {
    violate("offset() " + std::to_string(out.offset) + " differs from error_offset() " +
            std::to_string(out.outcome.error_offset));
  }
  if (out.consumed != expected_consumed(out.outcome, input.size())) {
    violate("consumed " + std::to_string(out.consumed) + " of " + std::to_string(input.size()) +
            " input bytes");
  }
  return out;
}

DriveResult decode_whole(std::uint32_t limit, std::span<const std::byte> input) {
  return decode_chunked(limit, input, {});
}

Outcome reference_decode(std::uint32_t limit, std::span<const std::byte> input) {
  Outcome out;
  std::size_t i = 0;
  while (i < input.size()) {
    if (input.size() - i < 4) {
      out.error = DecodeError::truncated_header;
      out.error_offset = input.size();
      return out;
    }
    std::uint64_t length = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      length = length * 256 + std::to_integer<std::uint64_t>(input[i + k]);
    }
    if (length > limit) {
      out.error = DecodeError::frame_too_large;
      out.error_offset = i + 4;
      return out;
    }
    if (input.size() - i - 4 < length) {
      out.error = DecodeError::truncated_payload;
      out.error_offset = input.size();
      out.partial.assign(input.begin() + static_cast<std::ptrdiff_t>(i + 4), input.end());
      return out;
    }
    const auto begin = input.begin() + static_cast<std::ptrdiff_t>(i + 4);
    out.frames.emplace_back(begin, begin + static_cast<std::ptrdiff_t>(length));
    i += 4 + static_cast<std::size_t>(length);
  }
  return out;
}

}  // namespace framed::test
