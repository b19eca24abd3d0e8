// Parsers for command-line values. Each returns std::nullopt on any input it
// does not fully understand, so callers can print one clear error.
#pragma once

#include "framed/parse.h"

namespace framed::util {

// The public parsers (framed/parse.h), under the names the tools use.
using framed::parse_duration;
using framed::parse_size;
using framed::parse_uint;

}  // namespace framed::util
