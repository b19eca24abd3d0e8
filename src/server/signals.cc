#include "server/signals.h"

#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>

namespace framed::server {

net::SysError SignalSource::open() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&set, signo);
  // pthread_sigmask, not sigprocmask: the mask is per thread, and threads
  // started later inherit it.
  if (const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    return {"pthread_sigmask", rc};
  }
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (sigaction(SIGPIPE, &ignore, nullptr) != 0) return {"sigaction", errno};
  fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) return {"signalfd", errno};
  return {};
}

SignalPlan plan_for(const SignalCounts& got, bool draining) noexcept {
  SignalPlan plan;
  plan.report = got.user1 > 0;
  if (got.stops() > 0) {
    plan.drain = !draining;
    plan.exit_now = draining;
  }
  return plan;
}

SignalCounts SignalSource::take() {
  SignalCounts out;
  signalfd_siginfo info[16];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), info, sizeof info);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const auto count = static_cast<std::size_t>(n) / sizeof info[0];
    for (std::size_t i = 0; i < count; ++i) {
      switch (static_cast<int>(info[i].ssi_signo)) {
        case SIGINT: ++out.interrupt; break;
        case SIGTERM: ++out.terminate; break;
        case SIGUSR1: ++out.user1; break;
        default: break;
      }
    }
  }
  return out;
}

}  // namespace framed::server
