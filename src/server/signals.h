// framed::serve()'s signals (program-level: the library's Server never
// touches them). open() installs handlers for SIGINT, SIGTERM, SIGUSR1 and SIGHUP
// that count each kind and wake fd(), so a signal is taken whichever thread
// the kernel chooses for it: the caller's, or any thread the program
// started before serve(), which may not block them. (Workers block every
// signal; see Runtime::start.) Each kind is counted on its own, so a flood
// of one (SIGUSR1) cannot hide another (SIGTERM). The destructor puts the
// previous handlers back.
#pragma once

#include <csignal>
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
  std::uint32_t hangup = 0;     // SIGHUP

  [[nodiscard]] std::uint32_t stops() const noexcept { return interrupt + terminate; }
};

// What the server does with the signals of one take().
struct SignalPlan {
  bool report = false;    // Log the counters (SIGUSR1).
  bool reload = false;    // Reload the TLS certificate and key (SIGHUP).
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
  SignalSource() = default;
  ~SignalSource();
  SignalSource(const SignalSource&) = delete;
  SignalSource& operator=(const SignalSource&) = delete;

  // Installs the handlers (SA_RESTART) and unblocks the three signals in
  // the calling thread, keeping the previous handlers and mask for the
  // destructor. One SignalSource may be open in a process at a time.
  // Returns the failing call, if any (and installs nothing).
  net::SysError open();

  // Readable when a signal has arrived since the last take().
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  // Takes the counts of the signals that arrived, without blocking.
  SignalCounts take();

 private:
  net::UniqueFd fd_;
  bool installed_ = false;
  struct sigaction old_[4]{};
  sigset_t old_mask_{};
};

}  // namespace framed::server
