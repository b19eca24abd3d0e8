// A process-wide count of global operator new calls. Linking
// count_allocations.cc into a binary replaces operator new and delete there.
#pragma once

#include <cstddef>

namespace framed::test {

// Returns how many times the global operator new (any form) has run.
std::size_t allocation_count() noexcept;

}  // namespace framed::test
