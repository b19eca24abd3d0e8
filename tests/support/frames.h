// Bytes and frames from text, for the tests that drive the connection
// logic over the simulated transport (conn, loop API, per-IP, metrics).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "framed/encoder.h"

namespace framed::sim {

inline std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

// A frame whose payload is `payload`.
inline std::vector<std::byte> frame(const std::string& payload) {
  std::vector<std::byte> out;
  (void)append_frame(out, bytes_of(payload));
  return out;
}

}  // namespace framed::sim
