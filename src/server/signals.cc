#include "server/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace framed::server {
namespace {

// A signal handler may only touch lock-free, async-signal-safe state: these
// plain counters and the pipe's descriptor. Each counter is written only by
// its own signal's handler, which the kernel does not re-enter (no
// SA_NODEFER), and only read by the loop, so an increment is never lost.
volatile std::sig_atomic_t g_interrupt = 0;
volatile std::sig_atomic_t g_terminate = 0;
volatile std::sig_atomic_t g_user1 = 0;
volatile std::sig_atomic_t g_wake_fd = -1;

std::uint32_t since(volatile std::sig_atomic_t& counter, std::uint32_t& seen) {
  const auto now = static_cast<std::uint32_t>(counter);
  const std::uint32_t delta = now - seen;
  seen = now;
  return delta;
}

}  // namespace

void SignalWatch::on_signal(int signo) noexcept {
  const int saved = errno;
  if (signo == SIGINT) {
    g_interrupt = g_interrupt + 1;
  } else if (signo == SIGTERM) {
    g_terminate = g_terminate + 1;
  } else if (signo == SIGUSR1) {
    g_user1 = g_user1 + 1;
  }
  // Only a wake-up: if the pipe is full, a wake-up is already pending and
  // the counters above carry the news.
  const int fd = g_wake_fd;
  if (fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);
  }
  errno = saved;
}

SignalWatch::~SignalWatch() {
  if (g_wake_fd == write_.get()) g_wake_fd = -1;
}

net::SysError SignalWatch::install() {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {"pipe2", errno};
  read_.reset(fds[0]);
  write_.reset(fds[1]);
  seen_.interrupt = static_cast<std::uint32_t>(g_interrupt);
  seen_.terminate = static_cast<std::uint32_t>(g_terminate);
  seen_.user1 = static_cast<std::uint32_t>(g_user1);
  g_wake_fd = fds[1];

  struct sigaction sa {};
  sa.sa_handler = [](int signo) { on_signal(signo); };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // No SA_RESTART: poll() returns EINTR and we look at once.
  for (int signo : {SIGINT, SIGTERM, SIGUSR1}) {
    if (sigaction(signo, &sa, nullptr) != 0) return {"sigaction", errno};
  }
  // A peer that vanishes must cost an EPIPE, not the process.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (sigaction(SIGPIPE, &ignore, nullptr) != 0) return {"sigaction", errno};
  return {};
}

SignalCounts SignalWatch::take() {
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(read_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || static_cast<std::size_t>(n) < sizeof buf) break;
  }
  SignalCounts out;
  out.interrupt = since(g_interrupt, seen_.interrupt);
  out.terminate = since(g_terminate, seen_.terminate);
  out.user1 = since(g_user1, seen_.user1);
  return out;
}

}  // namespace framed::server
