// Starts the real framed-server binary for tests and the stress tool, reads
// the port it announces, and always reaps it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/fd.h"

namespace framed::test {

struct SpawnOptions {
  std::vector<std::string> args;  // Passed after the program name.
  // When non-zero: the child's RLIMIT_NOFILE (soft and hard) before exec.
  std::uint64_t fd_limit = 0;
  // When non-zero: only the soft RLIMIT_NOFILE, the hard limit unchanged.
  std::uint64_t fd_soft_limit = 0;
  // Descriptors the child opens (without CLOEXEC) before exec, so the server
  // starts with fewer free descriptors than it believes.
  int leak_fds = 0;
  // "NAME=VALUE" entries set in the child's environment, replacing any
  // inherited variable of the same name (see alloc_guard.h for a use).
  std::vector<std::string> env;
  std::chrono::milliseconds startup_timeout{20'000};
};

struct ExitStatus {
  bool exited = false;  // Normal exit; otherwise killed by `signal`.
  int code = -1;
  int signal = 0;
};

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();  // SIGKILLs and reaps the child if still running.
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Runs `path` with `options` and waits for its "listening on HOST:PORT"
  // line. Returns false with `error` set if it exits or stays silent.
  bool start(const std::string& path, const SpawnOptions& options, std::string& error);

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& listening_line() const { return line_; }
  [[nodiscard]] pid_t pid() const { return pid_; }

  void send_signal(int signo) const;
  // Waits up to `timeout` for the child to end; nullopt if it is still up.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
  // Everything the child wrote to stderr so far.
  [[nodiscard]] std::string stderr_text() const;
  // Resident set size in KiB from /proc, or 0 if unavailable.
  [[nodiscard]] long rss_kib() const;
  // User + system CPU time consumed so far, from /proc.
  [[nodiscard]] double cpu_seconds() const;
  // Polls stderr until it contains `needle` or `timeout` passes.
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) const;
  // Sends SIGUSR1 and returns the "counters (SIGUSR1): ..." line it makes
  // the server log (up to 5 s), or empty if none comes.
  std::string counters_line();

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string line_;
  std::string stderr_path_;
  net::UniqueFd stdout_;
};

// User + system CPU seconds of any process, from /proc (0 if unavailable).
double cpu_seconds_of(pid_t pid);
// Resident set size of any process in KiB, from /proc (0 if unavailable).
long rss_kib_of(pid_t pid);

// Runs `path args...` to completion (killed after `timeout`) and returns its
// exit status; `err` receives its stderr and `out` its stdout. The child
// reads `input` on stdin, and has `env` ("NAME=VALUE") in its environment.
ExitStatus run_to_exit(const std::string& path, const std::vector<std::string>& args,
                       std::string& out, std::string& err,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(20'000),
                       const std::string& input = "", const std::vector<std::string>& env = {});

}  // namespace framed::test
