// Loads the PROXY header vectors of spec/proxy_vectors.txt (format described
// there) and replays them through a ProxyParser at any split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "framed/proxy.h"

namespace framed::test {

// How a stream fed to a ProxyParser ended.
struct ProxyOutcome {
  enum class End : std::uint8_t { done, error, empty };
  End end = End::empty;
  ProxyError error = ProxyError::none;
  // done: bytes consumed (the header's length); error: the error offset.
  std::size_t offset = 0;
  // done: net::describe(header), e.g. "v2 PROXY TCP4 1.2.3.4:5 -> 6.7.8.9:10".
  std::string header;

  friend bool operator==(const ProxyOutcome&, const ProxyOutcome&) = default;
};

std::string describe(const ProxyOutcome& outcome);

struct ProxyVector {
  std::string name;
  std::uint16_t v2_max = kDefaultProxyV2Max;
  std::vector<std::byte> input;
  ProxyOutcome expected;
};

inline void PrintTo(const ProxyVector& v, std::ostream* os) { *os << v.name; }

// Parses the file at `path`; on a malformed file returns an empty list and
// sets `error` to "path:line: why". Strict like load_vectors: unknown keys,
// a header line without a done end (or a done end without one), keys after
// end and repeated names are rejected.
std::vector<ProxyVector> load_proxy_vectors(const std::string& path, std::string& error);

// Feeds `input` to `parser` in the pieces `split` returns (sizes, summing to
// the input's size; empty pieces allowed), each placed by `place` (which may
// copy it into a guarded buffer) before the call. Stops at done or error,
// then at the end of input calls finish(). `consumed` receives the bytes
// the parser took in total; `violation` describes a broken rule of the API
// (consumed beyond a piece, a non-sticky state), if any.
ProxyOutcome replay_proxy(
    ProxyParser& parser, std::span<const std::byte> input, const std::vector<std::size_t>& split,
    const std::function<std::span<const std::byte>(std::span<const std::byte>)>& place,
    std::size_t& consumed, std::string& violation);

}  // namespace framed::test
