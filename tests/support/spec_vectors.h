// Loads the conformance vectors of spec/vectors.txt (format described there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "framed/decoder.h"

namespace framed::test {

// The outcome of decoding a whole stream: the frames, then how it ended.
struct Outcome {
  std::vector<std::vector<std::byte>> frames;
  DecodeError error = DecodeError::none;
  std::uint64_t error_offset = 0;
  // The payload bytes of the unfinished frame that were streamed before the
  // error: the decoder hands payload out before a frame completes, so a
  // truncated_payload end has delivered exactly these. Empty otherwise.
  std::vector<std::byte> partial;

  friend bool operator==(const Outcome&, const Outcome&) = default;
};

struct Vector {
  std::string name;
  std::uint32_t limit = kDefaultMaxFrame;
  std::vector<std::byte> input;
  Outcome expected;
};

// Test output names a vector by its name, not its bytes.
inline void PrintTo(const Vector& v, std::ostream* os) { *os << v.name; }

// Parses the vectors file at `path`. Returns the cases in file order; on a
// malformed file, returns an empty list and sets `error` to "path:line: why".
// The loader is strict, so that a typo cannot silently weaken a case: it
// rejects unknown keys, a repeated limit, input, partial or end, any key
// after end, a case without input or without end, a partial whose end is not
// truncated_payload, a truncated_payload end without partial, and repeated
// or malformed case names.
std::vector<Vector> load_vectors(const std::string& path, std::string& error);

// The same, reading the vectors from `text`; `source` names it in errors.
std::vector<Vector> load_vectors_from_string(const std::string& text, const std::string& source,
                                             std::string& error);

// The number of stream bytes a decoder must consume for `outcome` when fed
// all `input_size` bytes: everything, except that bytes after the offset of
// a frame_too_large error are never consumed.
std::uint64_t expected_consumed(const Outcome& outcome, std::uint64_t input_size);

// Renders an outcome for test failure messages.
std::string describe(const Outcome& outcome);

// Parses an error name as spelled in the spec; returns false if unknown.
bool parse_error_name(const std::string& name, DecodeError& out);

}  // namespace framed::test
