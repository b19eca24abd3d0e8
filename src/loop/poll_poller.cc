// The poll(2) backend: the portable reference. The pollfd array is kept up
// to date incrementally (a descriptor's position is remembered, removal
// swaps in the last entry), so no wake-up rebuilds it; poll() itself scans
// every entry in the kernel, which is what epoll avoids.
#include <poll.h>

#include <cerrno>

#include "loop/poller.h"

namespace framed::loop {
namespace {

short to_events(unsigned interest) {
  short events = 0;
  if ((interest & kRead) != 0) events |= POLLIN;
  if ((interest & kWrite) != 0) events |= POLLOUT;
  return events;
}

class PollPoller final : public Poller {
 public:
  [[nodiscard]] std::string_view name() const noexcept override { return "poll"; }

  net::SysError add(int fd, std::uint64_t token, unsigned interest) override {
    if (fd < 0) return {"poll add", EBADF};
    const auto at = static_cast<std::size_t>(fd);
    if (at >= position_.size()) position_.resize(at + 1, kAbsent);
    if (position_[at] != kAbsent) return {"poll add", EEXIST};
    position_[at] = fds_.size();
    fds_.push_back({fd, to_events(interest), 0});
    tokens_.push_back(token);
    return {};
  }

  net::SysError modify(int fd, std::uint64_t token, unsigned interest) override {
    const std::size_t at = find(fd);
    if (at == kAbsent) return {"poll modify", ENOENT};
    fds_[at].events = to_events(interest);
    tokens_[at] = token;
    return {};
  }

  void remove(int fd) noexcept override {
    const std::size_t at = find(fd);
    if (at == kAbsent) return;
    const std::size_t last = fds_.size() - 1;
    if (at != last) {
      fds_[at] = fds_[last];
      tokens_[at] = tokens_[last];
      position_[static_cast<std::size_t>(fds_[at].fd)] = at;
    }
    fds_.pop_back();
    tokens_.pop_back();
    position_[static_cast<std::size_t>(fd)] = kAbsent;
  }

  net::SysError wait(int timeout_ms, std::vector<Event>& out) override {
    out.clear();
    const int rc = ::poll(fds_.data(), fds_.size(), timeout_ms);
    if (rc < 0) return errno == EINTR ? net::SysError{} : net::SysError{"poll", errno};
    // Stop as soon as every ready entry is found: the scan is the one
    // user-space cost poll() cannot avoid.
    int left = rc;
    for (std::size_t i = 0; i < fds_.size() && left > 0; ++i) {
      const short ev = fds_[i].revents;
      if (ev == 0) continue;
      --left;
      fds_[i].revents = 0;
      Event e;
      e.token = tokens_[i];
      e.readable = (ev & POLLIN) != 0;
      e.writable = (ev & POLLOUT) != 0;
      e.error = (ev & (POLLERR | POLLHUP | POLLNVAL)) != 0;
      out.push_back(e);
    }
    return {};
  }

 private:
  static constexpr std::size_t kAbsent = static_cast<std::size_t>(-1);

  [[nodiscard]] std::size_t find(int fd) const noexcept {
    const auto at = static_cast<std::size_t>(fd);
    return fd >= 0 && at < position_.size() ? position_[at] : kAbsent;
  }

  std::vector<pollfd> fds_;
  std::vector<std::uint64_t> tokens_;  // tokens_[i] belongs to fds_[i].
  std::vector<std::size_t> position_;  // fds_ index by descriptor number.
};

}  // namespace

std::unique_ptr<Poller> make_poll_poller() { return std::make_unique<PollPoller>(); }

}  // namespace framed::loop
