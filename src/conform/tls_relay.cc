#include "conform/tls_relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

#include "client/tls_stream.h"
#include "net/socket.h"

namespace framed::conform {
namespace {

ClientTlsOptions g_options;
bool g_on = false;
// Every relay's thread, joined by stop_relays(): a relay still running at
// exit would leave its TLS session behind (LeakSanitizer says so).
std::mutex g_mutex;
std::vector<std::thread> g_relays;
std::atomic<bool> g_stop{false};

constexpr std::size_t kBuffer = 256U << 10U;  // Per direction.

// One relay: `plain` is its end of the case's socket pair, `tls` the
// stream over `server`. Runs until both directions are done.
void run(net::UniqueFd server, detail::TlsStream* tls, net::UniqueFd plain) {
  std::vector<std::byte> up;    // From the case, for the server.
  std::vector<std::byte> down;  // From the server, for the case.
  std::vector<std::byte> buf(64U << 10U);
  bool case_done = false;    // The case shut down its write side (or closed).
  bool server_done = false;  // The server ended (close_notify, FIN or error).
  bool up_shut = false;      // close_notify and FIN sent to the server.
  while (!g_stop.load(std::memory_order_relaxed)) {
    // The server's end has reached the case: close our end entirely, so the
    // case reads EOF and its writes fail, as on a closed connection.
    if (server_done && down.empty()) break;
    if (case_done && up.empty() && !up_shut) {
      detail::tls_close_notify(*tls);
      ::shutdown(server.get(), SHUT_WR);
      up_shut = true;
    }
    pollfd p[2] = {{server.get(), 0, 0}, {plain.get(), 0, 0}};
    if (!server_done && down.size() < kBuffer) p[0].events |= POLLIN;
    if (!up.empty()) p[0].events |= POLLOUT;
    if (!case_done && up.size() < kBuffer) p[1].events |= POLLIN;
    if (!down.empty()) p[1].events |= POLLOUT;
    // TLS may hold decrypted bytes already: no socket event would say so.
    const bool buffered = !server_done && down.size() < kBuffer && detail::tls_buffered(*tls);
    if (::poll(p, 2, buffered ? 0 : 100) < 0 && errno != EINTR) break;
    if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !case_done) {
      const net::IoResult r = net::read_some(plain.get(), buf);
      if (r.eof || !r.error.ok()) {
        case_done = true;
      } else if (r.bytes > 0) {
        up.insert(up.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
      }
    }
    if (!up.empty() && (p[0].revents & (POLLOUT | POLLIN)) != 0) {
      const detail::TlsIo w = detail::tls_write(*tls, up);
      if (w.error) {
        server_done = true;
        up.clear();
        down.clear();
      } else if (w.bytes > 0) {
        up.erase(up.begin(), up.begin() + static_cast<std::ptrdiff_t>(w.bytes));
      }
    }
    if (!server_done && down.size() < kBuffer &&
        (buffered || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0)) {
      const detail::TlsIo r = detail::tls_read(*tls, buf);
      if (r.eof || r.error) {
        server_done = true;
      } else if (r.bytes > 0) {
        down.insert(down.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
      }
    }
    if (!down.empty() && (p[1].revents & POLLOUT) != 0) {
      const net::IoResult w = net::write_some(plain.get(), down);
      if (!w.error.ok()) {
        // The case closed its end: nothing more can reach it.
        down.clear();
        case_done = true;
        server_done = true;
      } else {
        down.erase(down.begin(), down.begin() + static_cast<std::ptrdiff_t>(w.bytes));
      }
    }
  }
  detail::tls_free(tls);
}

}  // namespace

void set_tls(const ClientTlsOptions& options) {
  g_options = options;
  g_on = options.enabled;
}

bool tls_on() noexcept { return g_on; }

net::UniqueFd relay_tls(net::UniqueFd server, const std::string& host,
                        std::chrono::milliseconds timeout, std::string& error) {
  Error e;
  detail::TlsStream* tls = detail::tls_connect(server.get(), g_options, host,
                                               std::chrono::steady_clock::now() + timeout, e);
  if (tls == nullptr) {
    error = e.message;
    return {};
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    error = net::SysError{"socketpair", errno}.message();
    detail::tls_free(tls);
    return {};
  }
  net::UniqueFd mine(pair[0]);
  net::UniqueFd theirs(pair[1]);
  const std::lock_guard lock(g_mutex);
  g_relays.emplace_back(run, std::move(server), tls, std::move(theirs));
  return mine;
}

void stop_relays() {
  g_stop.store(true);
  std::vector<std::thread> relays;
  {
    const std::lock_guard lock(g_mutex);
    relays.swap(g_relays);
  }
  for (auto& t : relays) t.join();
}

}  // namespace framed::conform
