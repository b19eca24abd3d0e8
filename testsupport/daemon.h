// A program from the system run beside a test (HAProxy, a TLS peer): found
// on PATH, started in the foreground with its output in a file, always
// stopped and reaped.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace framed::test {

// The path of `name` on PATH, else in /usr/sbin or /usr/local/sbin; empty
// when it is not installed.
std::string find_program(const std::string& name);

// A loopback port that was free a moment ago, for programs that cannot
// bind port 0 and report it (the race is the caller's to retry).
std::uint16_t free_port();

class Daemon {
 public:
  Daemon() = default;
  ~Daemon() { stop(); }  // SIGTERM, then SIGKILL after 2 s; always reaped.
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs `binary args...` with stdout and stderr in `log_path`. Returns
  // false with `error` set if it cannot be started.
  bool start(const std::string& binary, const std::vector<std::string>& args,
             const std::string& log_path, std::string& error);
  // True while the process runs.
  bool alive();
  void stop();
  // Everything it wrote so far.
  [[nodiscard]] std::string output() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace framed::test
