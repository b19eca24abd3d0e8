#include "alloc_guard.h"

#include <cstdlib>

namespace framed::test {

bool alloc_guard_uses_asan() {
#ifdef FRAMED_SANITIZE_ADDRESS
  return true;
#else
  return false;
#endif
}

std::vector<std::string> alloc_guard_env(std::uint64_t limit_bytes) {
#ifdef FRAMED_SANITIZE_ADDRESS
  // allocator_may_return_null=0 turns a refused request into a report
  // instead of a null return; abort_on_error=1 makes that report a SIGABRT.
  const std::uint64_t mib = (limit_bytes + (1U << 20U) - 1) >> 20U;
  std::string options;
  if (const char* current = std::getenv("ASAN_OPTIONS"); current != nullptr && *current != '\0') {
    options = std::string(current) + ":";
  }
  options += "max_allocation_size_mb=" + std::to_string(mib) +
             ":allocator_may_return_null=0:abort_on_error=1";
  return {"ASAN_OPTIONS=" + options};
#else
  return {std::string("LD_PRELOAD=") + FRAMED_ALLOC_GUARD_PATH,
          "FRAMED_ALLOC_LIMIT=" + std::to_string(limit_bytes)};
#endif
}

std::string alloc_guard_message() {
  // ASan names the failure "allocation-size-too-big" in its report.
  return alloc_guard_uses_asan() ? "allocation-size-too-big" : "framed alloc_guard:";
}

}  // namespace framed::test
