// An allocation-size guard for processes the tests spawn, so that "never
// allocates a size the peer chose" fails loudly: the guarded process aborts
// on any single allocation request above a limit, even one whose pages are
// never touched (which resident-memory checks cannot see).
//
// How to use it against the real server (for example in server_test.cc):
//
//   SpawnOptions options;
//   options.args = {"--port", "0", "--max-frame", "4294967295"};
//   options.env = alloc_guard_env(64U << 20U);   // abort above 64 MiB
//   ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;
//   ... drive it with frames announcing huge lengths ...
//   EXPECT_FALSE(server.wait_exit(0ms).has_value());                   // alive
//   EXPECT_EQ(server.stderr_text().find(alloc_guard_message()), std::string::npos);
//
// The guard is chosen by the build: normally the LD_PRELOAD shim
// integration/shims/alloc_guard.cc with FRAMED_ALLOC_LIMIT; under
// AddressSanitizer (FRAMED_SANITIZE_ADDRESS), whose runtime conflicts with a
// preloaded malloc, ASan's own max_allocation_size_mb, which counts in whole
// MiB (the limit is rounded up). Either way an excessive request ends the
// process with SIGABRT and alloc_guard_message() on its stderr. Keep the
// limit well above what the server legitimately allocates (its read buffer
// and backlog cap are well under 1 MiB) and well below any length under test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace framed::test {

// "NAME=VALUE" entries to add to a spawned process's environment (through
// SpawnOptions::env or run_to_exit's `env`) so that it aborts on any single
// allocation request above `limit_bytes`. Under ASan, the current
// ASAN_OPTIONS are kept and extended.
std::vector<std::string> alloc_guard_env(std::uint64_t limit_bytes);

// True when the guard is ASan's max_allocation_size_mb rather than the shim.
bool alloc_guard_uses_asan();

// Text the guarded process writes to stderr when the guard fires.
std::string alloc_guard_message();

}  // namespace framed::test
