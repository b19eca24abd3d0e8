// Judges an Outcome against an Expect and, for a failure, says in words what
// was sent, what was expected and what came back.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "conform/wire.h"

namespace framed::conform {

// Lowercase hex of at most `max` bytes, "..." appended when cut.
std::string hex(std::span<const std::byte> bytes, std::size_t max = 32);

// A byte count, with its binary unit when exact: "17 B", "1048576 B (1 MiB)".
std::string size_text(std::size_t bytes);

// Empty when `out` meets `expect`; otherwise the lines explaining why:
// expected, received, and for differing bytes the offset, the first
// differing byte and the hex around it on both sides.
std::vector<std::string> judge(const Expect& expect, const Outcome& out, milliseconds timeout);

// "sent 12 B in 12 writes, then shut down writing: 00000005 68..." for the
// detail of a failure.
std::string sent_text(const SendPlan& plan, const Outcome& out);

}  // namespace framed::conform
