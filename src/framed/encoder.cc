#include "framed/encoder.h"

#include <limits>

namespace framed {

bool append_frame(std::vector<std::byte>& out, std::span<const std::byte> payload) {
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
    return false;
  }
  const auto header = encode_header(static_cast<std::uint32_t>(payload.size()));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return true;
}

}  // namespace framed
