// The server configurations every behaviour test runs against: each
// backend, and several workers. A value-parameterized gtest suite names
// each case after it (Backends/Server.EchoesX/epoll_workers2).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loop/uring.h"

namespace framed::test {

struct BackendCase {
  std::string name;               // A valid gtest name.
  std::vector<std::string> args;  // framed-server arguments selecting it.
  bool uring = false;             // Needs io_uring from this kernel.
};

// Why io_uring cannot run here (the server's own probe, run once in this
// process: the same kernel, seccomp profile and sysctl), or empty.
inline const std::string& uring_unavailable() {
  static const std::string why = [] {
    std::string reason;
    if (loop::Ring::create(loop::RingOptions{}, reason)) return std::string();
    return reason.empty() ? std::string("io_uring unavailable") : reason;
  }();
  return why;
}

// The base of every backend-parameterized fixture: an io_uring case on a
// kernel (or in a sandbox) that refuses io_uring is skipped, saying why,
// never passed.
class BackendTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    if (GetParam().uring && !uring_unavailable().empty()) {
      GTEST_SKIP() << "io_uring unavailable here: " << uring_unavailable();
    }
  }
};

// Test output names a case, not its bytes.
inline void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }

inline std::vector<BackendCase> backend_cases() {
  return {
      {"poll", {"--backend", "poll"}},
      {"epoll", {"--backend", "epoll"}},
      {"epoll_workers2", {"--backend", "epoll", "--workers", "2"}},
      {"io_uring", {"--backend", "io_uring"}, true},
      {"io_uring_workers2", {"--backend", "io_uring", "--workers", "2"}, true},
  };
}

// One case: for the real-time tests of the timing rules. Those rules live in
// the connection core, the same on every backend, and are proven at their
// exact deadlines on the manual clock (tests/conn_test.cc, the simulator);
// against the real binary one backend shows they are wired up.
inline std::vector<BackendCase> timing_cases() { return {{"epoll", {"--backend", "epoll"}}}; }

// One case per transport (readiness and completion): for suites that
// exercise the protocol end to end rather than the I/O paths.
inline std::vector<BackendCase> transport_cases() {
  return {{"epoll", {"--backend", "epoll"}}, {"io_uring", {"--backend", "io_uring"}, true}};
}

inline std::string backend_case_name(const ::testing::TestParamInfo<BackendCase>& info) {
  return info.param.name;
}

}  // namespace framed::test
