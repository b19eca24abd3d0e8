// The frame-level conformance vectors of spec/vectors.txt, compiled into the
// program so it runs from any directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framed/decoder.h"

namespace framed::conform {

struct WireVector {
  std::string name;
  std::uint32_t limit = kDefaultMaxFrame;
  std::vector<std::byte> input;
  std::vector<std::vector<std::byte>> frames;
  std::vector<std::byte> partial;  // Payload of the unfinished frame, if any.
  DecodeError end = DecodeError::none;
  std::uint64_t end_offset = 0;
};

// The text of spec/vectors.txt as it was at build time.
std::string_view embedded_vectors_text();

// Parses the vectors format (described in spec/vectors.txt). On a malformed
// text returns an empty list and sets `error` to "line N: why".
std::vector<WireVector> parse_vectors(std::string_view text, std::string& error);

// True when a server whose limit is `max_frame` must behave as the vector
// says: its decoder, with that limit, yields the vector's frames and end.
bool applies_at(const WireVector& v, std::uint32_t max_frame);

// The length of the longest input prefix made of complete frames: what the
// server must echo in full.
std::size_t complete_prefix(const WireVector& v);

}  // namespace framed::conform
