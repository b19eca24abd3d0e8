// The server configurations every behaviour test runs against: each
// backend, and several workers. A value-parameterized gtest suite names
// each case after it (Backends/Server.EchoesX/epoll_workers2).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace framed::test {

struct BackendCase {
  std::string name;               // A valid gtest name.
  std::vector<std::string> args;  // framed-server arguments selecting it.
};

// Test output names a case, not its bytes.
inline void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }

inline std::vector<BackendCase> backend_cases() {
  return {
      {"poll", {"--backend", "poll"}},
      {"epoll", {"--backend", "epoll"}},
      {"epoll_workers2", {"--backend", "epoll", "--workers", "2"}},
  };
}

inline std::string backend_case_name(const ::testing::TestParamInfo<BackendCase>& info) {
  return info.param.name;
}

}  // namespace framed::test
