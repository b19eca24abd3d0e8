// An LD_PRELOAD shim for tests: makes read(2) and sendmsg(2) fail with EINTR
// on every Nth call (FRAMED_EINTR_EVERY, default 2; 0 never), before doing
// anything, as if a signal had arrived. A program that does not retry on
// EINTR then drops or closes connections; one that does is unaffected. With
// FRAMED_FAIL_EPOLL_WAIT=N, the Nth epoll_wait(2) of the process fails with
// EBADF (once), as if a loop's descriptor were broken. On load it says so
// on stderr, so a test can tell that the shim is really in place.
#include <dlfcn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

namespace {

std::atomic<unsigned long> g_calls{0};
unsigned long g_every = 2;
std::atomic<unsigned long> g_waits{0};
unsigned long g_fail_wait = 0;

bool interrupt_now() {
  return g_every > 0 && g_calls.fetch_add(1, std::memory_order_relaxed) % g_every == g_every - 1;
}

template <typename Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

__attribute__((constructor)) void announce() {
  if (const char* every = std::getenv("FRAMED_EINTR_EVERY"))
    g_every = std::strtoul(every, nullptr, 10);
  if (const char* n = std::getenv("FRAMED_FAIL_EPOLL_WAIT"))
    g_fail_wait = std::strtoul(n, nullptr, 10);
  static const char kLine[] = "eintr shim: active\n";
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, kLine, sizeof kLine - 1);
}

}  // namespace

extern "C" ssize_t read(int fd, void* buf, size_t count) {
  using Read = ssize_t (*)(int, void*, size_t);
  static const Read real = next<Read>("read");
  if (interrupt_now()) {
    errno = EINTR;
    return -1;
  }
  return real(fd, buf, count);
}

extern "C" ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  using SendMsg = ssize_t (*)(int, const struct msghdr*, int);
  static const SendMsg real = next<SendMsg>("sendmsg");
  if (interrupt_now()) {
    errno = EINTR;
    return -1;
  }
  return real(fd, msg, flags);
}

extern "C" int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  using EpollWait = int (*)(int, struct epoll_event*, int, int);
  static const EpollWait real = next<EpollWait>("epoll_wait");
  if (g_fail_wait > 0 && g_waits.fetch_add(1, std::memory_order_relaxed) + 1 == g_fail_wait) {
    errno = EBADF;
    return -1;
  }
  return real(epfd, events, maxevents, timeout);
}
