#include "test_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
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
        // The server closed while we were still sending (a reset after it
        // had everything it wanted, §6.8). Stop writing, but read on: the
        // echoes and the FIN it sent first are still in our receive queue,
        // and returning here would lose them (a flaky test under load).
        ex.reset = true;
        sent = send.size();
        continue;
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

net::UniqueFd connect_small(std::uint16_t port, int rcvbuf, int sndbuf, const std::string& host) {
  std::vector<net::Endpoint> eps;
  std::string detail;
  if (!net::resolve(host, port, false, eps, detail).ok() || eps.empty()) return {};
  net::UniqueFd fd(
      ::socket(eps.front().addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  if (rcvbuf > 0) (void)net::set_int_option(fd.get(), SOL_SOCKET, SO_RCVBUF, rcvbuf);
  if (sndbuf > 0) (void)net::set_int_option(fd.get(), SOL_SOCKET, SO_SNDBUF, sndbuf);
  int rc = 0;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&eps.front().addr), eps.front().len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EINPROGRESS) return {};
  if ((poll_one(fd.get(), POLLOUT, milliseconds(5'000)) & POLLOUT) == 0) return {};
  if (!net::connect_result(fd.get()).ok()) return {};
  return fd;
}

SlowPeerResult slow_peer(int fd, std::span<const std::byte> send, const SlowPeerOptions& options) {
  SlowPeerResult out;
  const std::vector<std::byte> junk(64U << 10U, std::byte{0x5A});
  std::vector<std::byte> buf(options.read_chunk);
  const auto give_up = Clock::now() + options.timeout;
  auto next_read = Clock::now();
  bool writing = true;
  for (;;) {
    const auto now = Clock::now();
    if (now >= give_up) {
      out.timed_out = true;
      return out;
    }
    if (writing && out.sent == send.size() && !options.junk_after) {
      if (options.shut_wr) ::shutdown(fd, SHUT_WR);
      writing = false;
    }
    if (now >= next_read) {
      const auto r = net::read_some(fd, buf);
      if (!r.error.ok()) {
        out.reset = true;
        return out;
      }
      if (r.eof) {
        out.eof = true;
        return out;
      }
      if (!r.would_block) {
        out.received.insert(out.received.end(), buf.begin(),
                            buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
        if (options.on_read) options.on_read(out.received.size());
        if (out.received.size() >= options.expect) return out;
        next_read = now + options.read_interval;
      }
    }
    // Wait for room to write, or for the next read, whichever comes first.
    const auto until_read = std::chrono::duration_cast<milliseconds>(
        std::max(next_read - Clock::now(), Clock::duration{}));
    const short want =
        static_cast<short>((writing ? POLLOUT : 0) | (Clock::now() >= next_read ? POLLIN : 0));
    const auto wait = Clock::now() >= next_read ? milliseconds(20) : until_read;
    const int ev = poll_one(fd, want, std::max(wait, milliseconds(1)));
    if (writing && (ev & POLLOUT) != 0) {
      const bool main_part = out.sent < send.size();
      const auto w =
          main_part ? net::write_some(fd, send.subspan(out.sent)) : net::write_some(fd, junk);
      if (!w.error.ok()) {
        out.write_failed = true;
        writing = false;
      } else if (main_part) {
        out.sent += w.bytes;
      }
    }
  }
}

}  // namespace framed::test
