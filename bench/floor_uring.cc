// floor-uring: the least an io_uring echo can do, no framing, no limits, no
// timers: the floor framed-server's io_uring backend is measured against
// (bench/ab.sh). SINGLE_ISSUER and DEFER_TASKRUN where the kernel allows,
// a multishot accept, per connection one receive into its own 64 KiB buffer
// and then one send of what arrived (continued if short), one
// submit-and-wait per loop turn and the completion queue advanced once.
//   floor-uring [--port N]   (other options are accepted and ignored)
#include <liburing.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "floor_listen.h"
#include "net/socket.h"

namespace {

struct Conn {
  int fd = -1;
  std::vector<char> buf = std::vector<char>(64U << 10U);
  std::size_t have = 0;  // Received, being sent.
  std::size_t sent = 0;
};

constexpr std::uint64_t kAccept = 1;
constexpr std::uint64_t kSend = 1;  // Low bit of a Conn pointer: 0 receive, 1 send.

void recv_into(io_uring& ring, Conn* c) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  io_uring_prep_recv(sqe, c->fd, c->buf.data(), c->buf.size(), 0);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(c));
}

void send_rest(io_uring& ring, Conn* c) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  io_uring_prep_send(sqe, c->fd, c->buf.data() + c->sent, c->have - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(c) | kSend);
}

}  // namespace

int main(int argc, char** argv) {
  const framed::net::UniqueFd listener = framed::bench::floor_listen(argc, argv, "floor-uring");
  if (!listener.valid()) return 1;
  io_uring ring{};
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.flags |= IORING_SETUP_CQSIZE;
  p.cq_entries = 65536;
  if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
    p = {};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = 65536;
    if (const int e = io_uring_queue_init_params(4096, &ring, &p); e < 0) {
      std::fprintf(stderr, "floor-uring: io_uring_setup: %s\n", std::strerror(-e));
      return 1;
    }
  }
  framed::bench::floor_announce(listener.get());
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_multishot_accept(sqe, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, kAccept);
  for (;;) {
    if (io_uring_submit_and_wait(&ring, 1) < 0) continue;
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const std::uint64_t data = io_uring_cqe_get_data64(cqe);
      if (data == kAccept) {
        if (cqe->res >= 0) {
          (void)framed::net::set_nodelay(cqe->res);
          auto* c = new Conn;
          c->fd = cqe->res;
          recv_into(ring, c);
        }
        if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
          sqe = io_uring_get_sqe(&ring);
          io_uring_prep_multishot_accept(sqe, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
          io_uring_sqe_set_data64(sqe, kAccept);
        }
        continue;
      }
      auto* c = reinterpret_cast<Conn*>(data & ~kSend);
      if (cqe->res <= 0) {
        ::close(c->fd);
        delete c;
      } else if ((data & kSend) == 0) {
        c->have = static_cast<std::size_t>(cqe->res);
        c->sent = 0;
        send_rest(ring, c);
      } else {
        c->sent += static_cast<std::size_t>(cqe->res);
        if (c->sent < c->have) {
          send_rest(ring, c);
        } else {
          recv_into(ring, c);
        }
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
