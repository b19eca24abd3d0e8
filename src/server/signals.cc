#include "server/signals.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace framed::server {
namespace {

constexpr int kSignals[4] = {SIGINT, SIGTERM, SIGUSR1, SIGHUP};

// What the handler may touch: lock-free atomics and write(2), both
// async-signal-safe. One source at a time owns them.
std::atomic<std::uint32_t> g_counts[4];
std::atomic<int> g_wake_fd{-1};
std::atomic<bool> g_open{false};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_signal(int signo) {
  const int saved = errno;  // The interrupted code may be about to read it.
  for (int i = 0; i < 4; ++i) {
    if (kSignals[i] == signo) g_counts[i].fetch_add(1, std::memory_order_relaxed);
  }
  if (const int fd = g_wake_fd.load(std::memory_order_relaxed); fd >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
  }
  errno = saved;
}

}  // namespace

net::SysError SignalSource::open() {
  if (g_open.exchange(true)) return {"SignalSource::open (another is open)", EBUSY};
  fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd_) {
    g_open.store(false);
    return {"eventfd", errno};
  }
  for (auto& c : g_counts) c.store(0, std::memory_order_relaxed);
  g_wake_fd.store(fd_.get(), std::memory_order_release);
  struct sigaction act {};
  act.sa_handler = on_signal;
  act.sa_flags = SA_RESTART;
  sigemptyset(&act.sa_mask);
  for (int signo : kSignals) sigaddset(&act.sa_mask, signo);  // One at a time.
  for (int i = 0; i < 4; ++i) {
    if (sigaction(kSignals[i], &act, &old_[i]) != 0) {
      const int err = errno;
      for (int j = 0; j < i; ++j) sigaction(kSignals[j], &old_[j], nullptr);
      g_wake_fd.store(-1);
      g_open.store(false);
      return {"sigaction", err};
    }
  }
  sigset_t set;
  sigemptyset(&set);
  for (int signo : kSignals) sigaddset(&set, signo);
  (void)pthread_sigmask(SIG_UNBLOCK, &set, &old_mask_);
  installed_ = true;
  return {};
}

SignalSource::~SignalSource() {
  if (!installed_) return;
  for (int i = 0; i < 4; ++i) sigaction(kSignals[i], &old_[i], nullptr);
  (void)pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  g_wake_fd.store(-1, std::memory_order_release);
  g_open.store(false);
}

SignalPlan plan_for(const SignalCounts& got, bool draining) noexcept {
  SignalPlan plan;
  plan.report = got.user1 > 0;
  plan.reload = got.hangup > 0;
  if (got.stops() > 0) {
    plan.drain = !draining;
    plan.exit_now = draining;
  }
  return plan;
}

SignalCounts SignalSource::take() {
  std::uint64_t n = 0;
  while (::read(fd_.get(), &n, sizeof n) < 0 && errno == EINTR) {
  }
  SignalCounts out;
  out.interrupt = g_counts[0].exchange(0, std::memory_order_relaxed);
  out.terminate = g_counts[1].exchange(0, std::memory_order_relaxed);
  out.user1 = g_counts[2].exchange(0, std::memory_order_relaxed);
  out.hangup = g_counts[3].exchange(0, std::memory_order_relaxed);
  return out;
}

}  // namespace framed::server
