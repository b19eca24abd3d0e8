#include "conform/wire.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "conform/tls_relay.h"

namespace framed::conform {
namespace {

constexpr std::size_t kReadSize = std::size_t{64} * 1024;

int poll_ms(Clock::time_point until) {
  const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// poll(2) on one descriptor, retried on EINTR; returns revents (0 on timeout).
short poll_one(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, timeout_ms);
    if (rc >= 0) return rc == 0 ? 0 : p.revents;
    if (errno != EINTR) return POLLERR;
  }
}

// Tracks received bytes against the expectation, so a wrong byte ends the
// exchange at once instead of after the timeout.
class Checker {
 public:
  explicit Checker(const Expect& expect) : expect_(expect) {}
  // Checks the bytes of `received` past the last call; false on divergence.
  bool check(const std::vector<std::byte>& received) {
    const std::size_t limit = expect_.echo.size() + expect_.tolerated.size();
    for (; checked_ < received.size(); ++checked_) {
      if (checked_ >= limit) return false;
      const std::byte want = checked_ < expect_.echo.size()
                                 ? expect_.echo[checked_]
                                 : expect_.tolerated[checked_ - expect_.echo.size()];
      if (received[checked_] != want) return false;
    }
    return true;
  }

 private:
  const Expect& expect_;
  std::size_t checked_ = 0;
};

class Session {
 public:
  Session(int fd, const SendPlan& plan, const Expect& expect, milliseconds timeout)
      : fd_(fd), plan_(plan), expect_(expect), checker_(expect), timeout_(timeout) {}

  Outcome run() {
    deadline_ = Clock::now() + timeout_;
    next_write_ = Clock::now();
    chunk_left_ = plan_.writes.empty() ? 0 : plan_.writes[0];
    while (!stopped() && sending()) send_step();
    if (!stopped() && plan_.shut_wr && out_.write_error.empty()) ::shutdown(fd_, SHUT_WR);
    while (!stopped() && !satisfied()) {
      const short ev = poll_one(fd_, POLLIN, poll_ms(deadline_));
      if (ev == 0) {
        out_.timed_out = Clock::now() >= deadline_;
        continue;
      }
      read_available(SIZE_MAX);
    }
    return std::move(out_);
  }

 private:
  [[nodiscard]] bool sending() const {
    return out_.sent < plan_.data.size() && out_.write_error.empty();
  }
  [[nodiscard]] bool stopped() const { return out_.timed_out || out_.diverged || out_.closed(); }
  [[nodiscard]] bool satisfied() const {
    return !expect_.close && out_.received.size() >= expect_.echo.size();
  }

  void progress() { deadline_ = Clock::now() + timeout_; }

  // One poll round while bytes remain to send.
  void send_step() {
    const auto now = Clock::now();
    if (now >= deadline_) {
      out_.timed_out = true;
      return;
    }
    const bool may_write = now >= next_write_;
    short want = POLLIN;
    if (may_write) want = plan_.lazy_read ? POLLOUT : static_cast<short>(POLLIN | POLLOUT);
    const auto wake = may_write ? deadline_ : std::min(deadline_, next_write_);
    // A lazy reader waits for room briefly before it reads anything.
    const int wait = plan_.lazy_read && may_write ? std::min(poll_ms(wake), 5) : poll_ms(wake);
    short ev = poll_one(fd_, want, wait);
    if (plan_.lazy_read && may_write && (ev & POLLOUT) == 0) {
      ev = poll_one(fd_, POLLIN | POLLOUT, poll_ms(deadline_));
      if ((ev & (POLLIN | POLLERR | POLLHUP)) != 0) read_available(kReadSize);
      if ((ev & POLLOUT) == 0) return;
    } else if ((ev & (POLLIN | POLLERR | POLLHUP)) != 0) {
      read_available(SIZE_MAX);
    }
    if (may_write && (ev & (POLLOUT | POLLERR)) != 0 && !stopped()) write_step();
  }

  void write_step() {
    std::span<const std::byte> next = plan_.data.subspan(out_.sent);
    if (!plan_.writes.empty()) next = next.first(std::min(next.size(), chunk_left_));
    const net::IoResult r = net::write_some(fd_, next);
    if (!r.error.ok()) {
      out_.write_error = r.error.message();
      return;
    }
    if (r.bytes == 0) return;
    progress();
    out_.sent += r.bytes;
    if (plan_.writes.empty()) {
      ++out_.writes;
      return;
    }
    chunk_left_ -= r.bytes;
    if (chunk_left_ == 0) {
      ++out_.writes;
      if (out_.writes < plan_.writes.size()) chunk_left_ = plan_.writes[out_.writes];
      next_write_ = Clock::now() + plan_.pause;
    }
  }

  // Reads until the socket is empty or `budget` bytes were read.
  void read_available(std::size_t budget) {
    std::size_t got = 0;
    // Bounded: each round reads bytes, or returns.
    while (got < budget && !stopped()) {
      const std::size_t old = out_.received.size();
      out_.received.resize(old + kReadSize);
      const net::IoResult r = net::read_some(fd_, std::span(out_.received).subspan(old, kReadSize));
      out_.received.resize(old + r.bytes);
      if (!r.error.ok()) {
        out_.read_error = r.error.message();
      } else if (r.eof) {
        out_.eof = true;
      } else if (r.would_block) {
        return;
      }
      if (r.bytes > 0) {
        progress();
        got += r.bytes;
        if (!checker_.check(out_.received)) out_.diverged = true;
      }
      if (satisfied() && !sending()) return;
    }
  }

  int fd_;
  const SendPlan& plan_;
  const Expect& expect_;
  Checker checker_;
  milliseconds timeout_;
  Outcome out_;
  Clock::time_point deadline_;
  Clock::time_point next_write_;
  std::size_t chunk_left_ = 0;
};

}  // namespace

short wait_for(int fd, short events, milliseconds timeout) {
  return poll_one(fd, events, static_cast<int>(std::clamp<long long>(timeout.count(), 0, 60'000)));
}

net::UniqueFd connect_server(const net::Endpoint& ep, milliseconds timeout, std::string& error) {
  net::UniqueFd fd;
  net::SysError e = net::connect_to(ep, fd);
  if (e.ok()) {
    const short ev = poll_one(fd.get(), POLLOUT, static_cast<int>(timeout.count()));
    if (ev == 0) {
      error = "connect to " + ep.to_string() + ": timed out";
      return {};
    }
    e = net::connect_result(fd.get());
  }
  if (!e.ok()) {
    error = e.message();
    return {};
  }
  // Small writes must leave at once, so splits reach the server as written.
  (void)net::set_nodelay(fd.get());
  if (tls_on()) {
    // The address alone names the server to verify (unless --tls-servername).
    std::string host = ep.to_string();
    host = host.substr(0, host.rfind(':'));
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    return relay_tls(std::move(fd), host, timeout, error);
  }
  return fd;
}

Outcome transfer(int fd, const SendPlan& plan, const Expect& expect, milliseconds timeout) {
  Session session(fd, plan, expect, timeout);
  return session.run();
}

Outcome wait_for_close(int fd, milliseconds timeout) {
  Expect any;
  any.close = true;
  // Nothing is expected, so the first byte counts as divergence; the caller
  // reads `received` to judge it.
  const SendPlan none{};
  return transfer(fd, none, any, timeout);
}

}  // namespace framed::conform
