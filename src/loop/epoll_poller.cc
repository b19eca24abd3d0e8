// The epoll(7) backend: level-triggered, so the connection logic is the
// same as with poll(2) (a connection that stops reading for backpressure
// simply drops its read interest). Interest changes cost one epoll_ctl each;
// the loop only asks for a change when the interest really changes.
#include <sys/epoll.h>

#include <cerrno>

#include "loop/poller.h"

namespace framed::loop {
namespace {

std::uint32_t to_events(unsigned interest) {
  std::uint32_t events = 0;
  if ((interest & kRead) != 0) events |= EPOLLIN;
  if ((interest & kWrite) != 0) events |= EPOLLOUT;
  return events;
}

class EpollPoller final : public Poller {
 public:
  explicit EpollPoller(net::UniqueFd fd) : epoll_(std::move(fd)), ready_(kBatch) {}

  [[nodiscard]] std::string_view name() const noexcept override { return "epoll"; }

  net::SysError add(int fd, std::uint64_t token, unsigned interest) override {
    return control(EPOLL_CTL_ADD, fd, token, interest);
  }

  net::SysError modify(int fd, std::uint64_t token, unsigned interest) override {
    return control(EPOLL_CTL_MOD, fd, token, interest);
  }

  void remove(int fd) noexcept override {
    // Closing the descriptor would drop it from the set too, but only once
    // no other reference to the open file remains; be explicit.
    epoll_event ev{};
    (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, &ev);
  }

  net::SysError wait(int timeout_ms, std::vector<Event>& out) override {
    out.clear();
    const int n =
        ::epoll_wait(epoll_.get(), ready_.data(), static_cast<int>(ready_.size()), timeout_ms);
    if (n < 0) return errno == EINTR ? net::SysError{} : net::SysError{"epoll_wait", errno};
    for (int i = 0; i < n; ++i) {
      const epoll_event& r = ready_[static_cast<std::size_t>(i)];
      Event e;
      e.token = r.data.u64;
      e.readable = (r.events & EPOLLIN) != 0;
      e.writable = (r.events & EPOLLOUT) != 0;
      e.error = (r.events & (EPOLLERR | EPOLLHUP)) != 0;
      out.push_back(e);
    }
    return {};
  }

 private:
  // Ready events taken per wait; more wait for the next call (level-
  // triggered, nothing is lost).
  static constexpr std::size_t kBatch = 512;

  net::SysError control(int op, int fd, std::uint64_t token, unsigned interest) {
    epoll_event ev{};
    ev.events = to_events(interest);
    ev.data.u64 = token;
    if (::epoll_ctl(epoll_.get(), op, fd, &ev) != 0) return {"epoll_ctl", errno};
    return {};
  }

  net::UniqueFd epoll_;
  std::vector<epoll_event> ready_;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller(net::SysError& error) {
  net::UniqueFd fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!fd) {
    error = {"epoll_create1", errno};
    return nullptr;
  }
  return std::make_unique<EpollPoller>(std::move(fd));
}

}  // namespace framed::loop
