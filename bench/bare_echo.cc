// bare-echo: the simplest correct poll() byte echo server, with no framing
// and no limits. It is the baseline framed-bench compares framed-server to.
//   bare-echo [--port N]   (other framed-server options are accepted and ignored)
#include <poll.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "net/socket.h"
#include "util/parse.h"

namespace {
volatile sig_atomic_t g_stop = 0;
extern "C" void on_stop(int) { g_stop = 1; }

struct Conn {
  framed::net::UniqueFd fd;
  std::vector<std::byte> pending;  // Read but not yet written back.
};
}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--port") {
      const auto p = framed::util::parse_uint(argv[i + 1], 65535);
      if (!p) {
        std::fprintf(stderr, "bare-echo: bad --port\n");
        return 2;
      }
      port = static_cast<std::uint16_t>(*p);
    }
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<framed::net::Endpoint> eps;
  std::string detail;
  framed::net::UniqueFd listener;
  if (!framed::net::resolve("127.0.0.1", port, true, eps, detail).ok() ||
      !framed::net::listen_on(eps.front(), 1024, listener).ok()) {
    std::perror("bare-echo: listen");
    return 1;
  }
  framed::net::Endpoint bound;
  (void)framed::net::local_endpoint(listener.get(), bound);
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);

  std::vector<Conn> conns;
  std::vector<pollfd> pfds;
  std::vector<std::byte> buf(64U << 10U);
  while (g_stop == 0) {
    pfds.assign(1, {listener.get(), POLLIN, 0});
    for (auto& c : conns) {
      pfds.push_back({c.fd.get(), static_cast<short>(c.pending.empty() ? POLLIN : POLLOUT), 0});
    }
    if (poll(pfds.data(), pfds.size(), -1) < 0) continue;
    for (std::size_t i = conns.size(); i-- > 0;) {
      const short ev = pfds[i + 1].revents;
      if (ev == 0) continue;
      Conn& c = conns[i];
      bool dead = false;
      if (c.pending.empty()) {
        const auto r = framed::net::read_some(c.fd.get(), buf);
        dead = r.eof || !r.error.ok();
        c.pending.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
      }
      if (!dead && !c.pending.empty()) {
        const auto w = framed::net::write_some(c.fd.get(), c.pending);
        dead = !w.error.ok();
        c.pending.erase(c.pending.begin(),
                        c.pending.begin() + static_cast<std::ptrdiff_t>(w.bytes));
      }
      if (dead) {
        conns[i] = std::move(conns.back());
        conns.pop_back();
      }
    }
    // Accept last: pfds has no entry for a connection accepted in this round.
    if ((pfds[0].revents & POLLIN) != 0) {
      const int fd = accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        (void)framed::net::set_nodelay(fd);
        conns.push_back({framed::net::UniqueFd(fd), {}});
      }
    }
  }
  return 0;
}
