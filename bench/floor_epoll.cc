// floor-epoll: the least a level-triggered epoll echo can do, no framing, no
// limits, no timers: the floor framed-server's epoll backend is measured
// against (bench/ab.sh). One read buffer; an echo is written straight from
// it, and only what the socket does not take waits for EPOLLOUT.
//   floor-epoll [--port N]   (other options are accepted and ignored)
#include <signal.h>
#include <sys/epoll.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "floor_listen.h"
#include "net/socket.h"

namespace {

struct Conn {
  framed::net::UniqueFd fd;
  std::vector<std::byte> pending;
};

}  // namespace

int main(int argc, char** argv) {
  const framed::net::UniqueFd listener = framed::bench::floor_listen(argc, argv, "floor-epoll");
  if (!listener.valid()) return 1;
  framed::bench::floor_announce(listener.get());
  const framed::net::UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  epoll_event lev{EPOLLIN, {.ptr = nullptr}};
  epoll_ctl(ep.get(), EPOLL_CTL_ADD, listener.get(), &lev);
  std::vector<std::byte> buf(64U << 10U);
  std::vector<epoll_event> events(1024);
  for (;;) {
    const int n = epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (c == nullptr) {
        for (int k = 0; k < 64; ++k) {
          const int fd = accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          (void)framed::net::set_nodelay(fd);
          auto* conn = new Conn{framed::net::UniqueFd(fd), {}};
          epoll_event ev{EPOLLIN, {.ptr = conn}};
          epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      bool dead = false;
      if (!c->pending.empty()) {
        const auto w = framed::net::write_some(c->fd.get(), c->pending);
        dead = !w.error.ok();
        c->pending.erase(c->pending.begin(),
                         c->pending.begin() + static_cast<std::ptrdiff_t>(w.bytes));
        if (!dead && c->pending.empty()) {
          epoll_event ev{EPOLLIN, {.ptr = c}};
          epoll_ctl(ep.get(), EPOLL_CTL_MOD, c->fd.get(), &ev);
        }
      } else {
        const auto r = framed::net::read_some(c->fd.get(), buf);
        dead = r.eof || !r.error.ok();
        if (!dead && r.bytes > 0) {
          const auto w = framed::net::write_some(c->fd.get(), std::span(buf).first(r.bytes));
          dead = !w.error.ok();
          if (!dead && w.bytes < r.bytes) {
            c->pending.assign(buf.begin() + static_cast<std::ptrdiff_t>(w.bytes),
                              buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
            epoll_event ev{EPOLLOUT, {.ptr = c}};
            epoll_ctl(ep.get(), EPOLL_CTL_MOD, c->fd.get(), &ev);
          }
        }
      }
      if (dead) {
        epoll_ctl(ep.get(), EPOLL_CTL_DEL, c->fd.get(), nullptr);
        delete c;
      }
    }
  }
}
