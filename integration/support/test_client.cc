#include "test_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "framed/encoder.h"
#include "net/socket.h"

namespace framed::test {
namespace {

using Clock = std::chrono::steady_clock;

int poll_one(int fd, short events, milliseconds timeout) {
  pollfd p{fd, events, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  return rc > 0 ? p.revents : 0;
}

}  // namespace

net::UniqueFd connect_local(std::uint16_t port, const std::string& host, milliseconds timeout) {
  std::vector<net::Endpoint> eps;
  std::string detail;
  if (!net::resolve(host, port, false, eps, detail).ok() || eps.empty()) return {};
  net::UniqueFd fd;
  if (!net::connect_to(eps.front(), fd).ok()) return {};
  if ((poll_one(fd.get(), POLLOUT, timeout) & POLLOUT) == 0) return {};
  if (!net::connect_result(fd.get()).ok()) return {};
  return fd;
}

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::vector<std::byte> frame_of(std::span<const std::byte> payload) {
  std::vector<std::byte> out;
  (void)append_frame(out, payload);
  return out;
}

std::vector<std::byte> frame_of(std::string_view text) { return frame_of(bytes_of(text)); }

Exchange exchange(int fd, std::span<const std::byte> send, std::size_t expect, bool shut_wr,
                  milliseconds timeout) {
  Exchange ex;
  std::size_t sent = 0;
  bool shut = false;
  std::vector<std::byte> buf(256U << 10U);
  for (;;) {
    if (sent == send.size() && shut_wr && !shut) {
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    if (ex.received.size() >= expect && sent == send.size()) return ex;
    const short want = static_cast<short>(POLLIN | (sent < send.size() ? POLLOUT : 0));
    const int ev = poll_one(fd, want, timeout);
    if (ev == 0) {
      ex.timed_out = true;
      return ex;
    }
    if ((ev & POLLOUT) != 0 && sent < send.size()) {
      const auto w = net::write_some(fd, send.subspan(sent));
      if (!w.error.ok()) {
        ex.reset = true;
        return ex;
      }
      sent += w.bytes;
    }
    if ((ev & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const auto r = net::read_some(fd, buf);
      if (!r.error.ok()) {
        ex.reset = true;
        return ex;
      }
      if (r.eof) {
        ex.eof = true;
        return ex;
      }
      ex.received.insert(ex.received.end(), buf.begin(),
                         buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    }
  }
}

Exchange read_until_close(int fd, milliseconds timeout) {
  return exchange(fd, {}, SIZE_MAX, false, timeout);
}

bool write_all(int fd, std::span<const std::byte> data, milliseconds timeout) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    if ((poll_one(fd, POLLOUT, timeout) & POLLOUT) == 0) return false;
    const auto w = net::write_some(fd, data.subspan(sent));
    if (!w.error.ok()) return false;
    sent += w.bytes;
  }
  return true;
}

}  // namespace framed::test
