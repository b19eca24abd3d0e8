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
std::vector<Vector> load_vectors(const std::string& path, std::string& error);

// Renders an outcome for test failure messages.
std::string describe(const Outcome& outcome);

// Parses an error name as spelled in the spec; returns false if unknown.
bool parse_error_name(const std::string& name, DecodeError& out);

}  // namespace framed::test
