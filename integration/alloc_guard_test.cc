// The allocation-size guard (support/alloc_guard.h) and one demonstration
// against the real server. First the guard is shown to fire: a probe child
// whose single request exceeds the limit is killed by SIGABRT under the
// guard, for every allocation entry point, and the same request succeeds
// without it. Then framed-server, guarded, streams the echo of a frame that
// announces 4 GiB - 1 bytes and stays up: had it sized anything by that
// length (even a reservation it never touched), the guard would have killed it.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "alloc_guard.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kLimit = 64U << 20U;
// Over the limit by more than ASan's 1 MiB rounding of it.
const std::string kTooMuch = std::to_string(kLimit + (8U << 20U));

const std::vector<std::string> kFunctions{"malloc",         "calloc",   "realloc", "aligned_alloc",
                                          "posix_memalign", "memalign", "new"};

ExitStatus probe(const std::string& function, const std::string& bytes,
                 const std::vector<std::string>& env, std::string& err) {
  std::string out;
  return run_to_exit(FRAMED_ALLOC_PROBE_PATH, {function, bytes}, out, err, 20'000ms, "", env);
}

TEST(AllocGuard, WithoutTheGuardTheProbeGetsWhatItAsks) {
  for (const auto& function : kFunctions) {
    std::string err;
    const ExitStatus s = probe(function, kTooMuch, {}, err);
    EXPECT_TRUE(s.exited) << function << " killed by signal " << s.signal << "\n" << err;
    EXPECT_EQ(s.code, 0) << function << "\n" << err;
  }
}

TEST(AllocGuard, UnderTheGuardARequestWithinTheLimitIsGranted) {
  for (const auto& function : kFunctions) {
    std::string err;
    const ExitStatus s = probe(function, std::to_string(1U << 20U), alloc_guard_env(kLimit), err);
    EXPECT_TRUE(s.exited && s.code == 0) << function << ": signal " << s.signal << "\n" << err;
  }
}

TEST(AllocGuard, UnderTheGuardEveryEntryPointAbortsAboveTheLimit) {
  for (const auto& function : kFunctions) {
    std::string err;
    const ExitStatus s = probe(function, kTooMuch, alloc_guard_env(kLimit), err);
    EXPECT_FALSE(s.exited) << function << " exited with " << s.code << "\n" << err;
    EXPECT_EQ(s.signal, SIGABRT) << function << "\n" << err;
    EXPECT_NE(err.find(alloc_guard_message()), std::string::npos) << function << "\n" << err;
  }
}

// A header announcing 4 GiB - 1 bytes under --max-frame 4294967295, then
// 1 MiB of it: the server must stream the echo back without ever sizing
// anything by the announced length.
TEST(AllocGuardServer, StreamsAFrameAnnouncingFourGibWithoutAllocatingIt) {
  ServerProcess server;
  SpawnOptions options;
  options.args = {"--port", "0", "--max-frame", "4294967295"};
  options.env = alloc_guard_env(kLimit);
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, options, error)) << error;

  auto fd = connect_local(server.port());
  ASSERT_TRUE(fd.valid());
  std::vector<std::byte> sent(4 + (1U << 20U));
  for (std::size_t i = 0; i < 4; ++i) sent[i] = std::byte{0xFF};
  for (std::size_t i = 4; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 7 + 3);
  const Exchange ex = exchange(fd.get(), sent, sent.size(), false);
  EXPECT_FALSE(ex.eof || ex.reset || ex.timed_out)
      << "eof " << ex.eof << " reset " << ex.reset << " timed out " << ex.timed_out
      << "; server log:\n"
      << server.stderr_text();
  EXPECT_TRUE(ex.received == sent)
      << "received " << ex.received.size() << " of " << sent.size() << " bytes";
  EXPECT_FALSE(server.wait_exit(0ms).has_value()) << "server died; log:\n" << server.stderr_text();
  EXPECT_EQ(server.stderr_text().find(alloc_guard_message()), std::string::npos)
      << server.stderr_text();
}

}  // namespace
}  // namespace framed::test
