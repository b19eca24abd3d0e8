// Signals, taken in one place. open() blocks SIGINT, SIGTERM and SIGUSR1 in
// the calling thread before any other thread exists (threads inherit the
// mask), so no worker is ever interrupted by them; the main thread reads
// them from a signalfd. Each kind is counted on its own, so a flood of one
// (SIGUSR1) cannot hide another (SIGTERM).
#pragma once

#include <cstdint>

#include "net/fd.h"
#include "net/socket.h"

namespace framed::server {

// What arrived since the previous take(): how many of each signal. (The
// kernel merges several pending signals of one kind into one.)
struct SignalCounts {
  std::uint32_t interrupt = 0;  // SIGINT
  std::uint32_t terminate = 0;  // SIGTERM
  std::uint32_t user1 = 0;      // SIGUSR1

  [[nodiscard]] std::uint32_t stops() const noexcept { return interrupt + terminate; }
};

// What the server does with the signals of one take().
struct SignalPlan {
  bool report = false;    // Log the counters (SIGUSR1).
  bool drain = false;     // Begin the drain (the first SIGINT or SIGTERM).
  bool exit_now = false;  // Exit 1 at once (a stop signal during the drain).
};

// Decides, spec/PROTOCOL.md §6.7: before the drain, any stop signals taken
// together are one request to drain (SIGINT and SIGTERM pending at once
// were both sent before the server took either; two of one kind are one
// already, in the kernel); once `draining`, any stop signal exits at once.
[[nodiscard]] SignalPlan plan_for(const SignalCounts& got, bool draining) noexcept;

class SignalSource {
 public:
  // Blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread, ignores
  // SIGPIPE (a vanished peer costs an EPIPE, not the process) and opens a
  // non-blocking signalfd for the three. Returns the failing call, if any.
  net::SysError open();

  // Readable when a signal is pending.
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  // Takes every pending signal without blocking and counts them.
  SignalCounts take();

 private:
  net::UniqueFd fd_;
};

}  // namespace framed::server
