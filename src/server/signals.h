// Signals for an event loop: each signal is counted in its own
// sig_atomic_t, and a self-pipe only wakes the loop. A full pipe therefore
// loses a wake-up byte at most, never a signal: the loop reads the counts.
#pragma once

#include <csignal>
#include <cstdint>

#include "net/fd.h"
#include "net/socket.h"

namespace framed::server {

// What arrived since the previous take(): how many of each signal.
struct SignalCounts {
  std::uint32_t interrupt = 0;  // SIGINT
  std::uint32_t terminate = 0;  // SIGTERM
  std::uint32_t user1 = 0;      // SIGUSR1

  [[nodiscard]] std::uint32_t stops() const noexcept { return interrupt + terminate; }
};

// The process-wide signal state. There is one per process: install() points
// the handlers at it, and the destructor detaches them (they go back to
// counting into nothing but the flags).
class SignalWatch {
 public:
  SignalWatch() = default;
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  // Creates the wake-up pipe, installs handlers for SIGINT, SIGTERM and
  // SIGUSR1 (without SA_RESTART, so a blocking wait returns EINTR) and
  // ignores SIGPIPE. Returns the failing call, if any.
  net::SysError install();

  // The descriptor to watch for readability: a signal arrived.
  [[nodiscard]] int wake_fd() const noexcept { return read_.get(); }

  // Empties the wake-up pipe and returns the signals counted since the last
  // call. Never loses a signal, whatever happened to the pipe.
  SignalCounts take();

  // The handler itself, exposed so tests can call it as the kernel would
  // (for example with the pipe full).
  static void on_signal(int signo) noexcept;

 private:
  net::UniqueFd read_;
  net::UniqueFd write_;
  SignalCounts seen_;
};

}  // namespace framed::server
