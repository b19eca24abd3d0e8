#include "loop/uring.h"

#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/fd.h"

namespace framed::loop {
namespace {

constexpr std::uint16_t kGroup = 0;  // The one provided-buffer group.

unsigned round_pow2(unsigned n) {
  unsigned p = 1;
  while (p < n) p <<= 1U;
  return p;
}

}  // namespace

struct Ring::Impl {
  io_uring ring{};
  bool ring_ok = false;
  io_uring_buf_ring* buf_ring = nullptr;
  std::size_t buf_ring_bytes = 0;
  bool buf_ring_registered = false;
  std::byte* buffers = nullptr;  // mmap'd: untouched pages cost no memory.
  std::size_t buffers_bytes = 0;
  std::size_t buffer_size = 0;
  unsigned count = 0;
  int mask = 0;
  int recycled = 0;  // Added since the last publish.
  std::vector<io_uring_cqe*> batch;

  ~Impl() {
    if (buf_ring_registered) (void)io_uring_unregister_buf_ring(&ring, kGroup);
    if (buf_ring != nullptr) ::munmap(buf_ring, buf_ring_bytes);
    if (buffers != nullptr) ::munmap(buffers, buffers_bytes);
    if (ring_ok) io_uring_queue_exit(&ring);
  }

  // The submission queue may be full of requests not yet submitted: submit
  // them to make room. Only a ring that cannot take even that is fatal, and
  // then nothing the loop could do would help.
  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    while (s == nullptr) {
      const int r = io_uring_submit(&ring);
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) std::abort();
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  void publish() {
    if (recycled > 0) {
      io_uring_buf_ring_advance(buf_ring, recycled);
      recycled = 0;
    }
  }

  void add_buffer(std::uint16_t id) {
    io_uring_buf_ring_add(buf_ring, buffers + std::size_t{id} * buffer_size,
                          static_cast<unsigned>(buffer_size), id, mask, recycled);
    ++recycled;
  }
};

Ring::Ring(std::unique_ptr<Impl> impl, std::string mode)
    : impl_(std::move(impl)), mode_(std::move(mode)) {}

Ring::~Ring() = default;

bool uring_built() noexcept { return true; }

std::unique_ptr<Ring> Ring::create(const RingOptions& options, std::string& why) {
  auto impl = std::make_unique<Impl>();
  const unsigned cq = std::min(round_pow2(std::max(options.cq_entries, 64U)), 65536U);
  // Submissions are made in batches of at most one wake-up's work; a full
  // queue is submitted early, so this only bounds the batch.
  const unsigned sq = std::min(cq, 4096U);
  // Most efficient first: completions run only when we wait
  // (DEFER_TASKRUN, 6.1+), else without interrupting the thread
  // (COOP_TASKRUN, 5.19+), else the classic mode.
  struct Try {
    unsigned flags;
    const char* name;
  };
  const Try tries[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "single-issuer, defer-taskrun"},
      {IORING_SETUP_COOP_TASKRUN, "coop-taskrun"},
      {0, "plain"},
  };
  int err = 0;
  std::string mode;
  for (const Try& t : tries) {
    io_uring_params p{};
    p.flags = t.flags | IORING_SETUP_CQSIZE | (options.disabled ? IORING_SETUP_R_DISABLED : 0U);
    p.cq_entries = cq;
    err = io_uring_queue_init_params(sq, &impl->ring, &p);
    if (err == 0) {
      if ((p.features & IORING_FEAT_EXT_ARG) == 0) {
        io_uring_queue_exit(&impl->ring);
        why = "io_uring: this kernel cannot wait with a timeout (IORING_FEAT_EXT_ARG, 5.11)";
        return nullptr;
      }
      mode = t.name;
      break;
    }
    // EINVAL: a flag this kernel does not know; anything else (EPERM from
    // seccomp or io_uring_disabled, ENOSYS, ENOMEM) is final.
    if (err != -EINVAL) break;
  }
  if (err != 0) {
    why = net::SysError{"io_uring_setup", -err}.message();
    return nullptr;
  }
  impl->ring_ok = true;

  // The provided-buffer ring, set up by hand as liburing 2.3's
  // examples/io_uring-udp.c does (io_uring_setup_buf_ring is 2.4's).
  const unsigned count = options.buffers;
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
    why = "io_uring: provided buffer count must be a power of two up to 32768";
    return nullptr;
  }
  if (options.buffer_size == 0 || options.buffer_size > 0xFFFFFFFFU) {
    why = "io_uring: a provided buffer must hold 1 byte to 4 GiB - 1";
    return nullptr;
  }
  impl->count = count;
  impl->mask = io_uring_buf_ring_mask(count);
  impl->buffer_size = options.buffer_size;
  impl->buf_ring_bytes = sizeof(io_uring_buf) * count;
  void* mem = ::mmap(nullptr, impl->buf_ring_bytes, PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    why = net::SysError{"mmap", errno}.message();
    return nullptr;
  }
  impl->buf_ring = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = count;
  reg.bgid = kGroup;
  if (const int r = io_uring_register_buf_ring(&impl->ring, &reg, 0); r != 0) {
    why = net::SysError{"io_uring_register_buf_ring", -r}.message();
    return nullptr;
  }
  impl->buf_ring_registered = true;
  io_uring_buf_ring_init(impl->buf_ring);
  // Not a vector: zero-filling would make every buffer resident at once,
  // where the kernel touches only the pages a receive writes.
  impl->buffers_bytes = std::size_t{count} * impl->buffer_size;
  void* data = ::mmap(nullptr, impl->buffers_bytes, PROT_READ | PROT_WRITE,
                      MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (data == MAP_FAILED) {
    why = net::SysError{"mmap", errno}.message();
    return nullptr;
  }
  impl->buffers = static_cast<std::byte*>(data);
  for (unsigned i = 0; i < count; ++i) impl->add_buffer(static_cast<std::uint16_t>(i));
  impl->publish();

  // The probe: a receive on a socketpair must deliver one byte into a
  // provided buffer (5.19+). Opcode probes cannot tell buffer rings or
  // POLL_FIRST apart, and a seccomp filter may allow set-up but not this.
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    why = net::SysError{"socketpair", errno}.message();
    return nullptr;
  }
  net::UniqueFd a(pair[0]);
  net::UniqueFd b(pair[1]);
  if (options.disabled) return std::unique_ptr<Ring>(new Ring(std::move(impl), mode));
  // Every opcode the loop submits.
  if (io_uring_probe* probe = io_uring_get_probe_ring(&impl->ring); probe != nullptr) {
    const std::pair<int, const char*> ops[] = {
        {IORING_OP_ACCEPT, "accept"}, {IORING_OP_RECV, "recv"},           {IORING_OP_SEND, "send"},
        {IORING_OP_POLL_ADD, "poll"}, {IORING_OP_ASYNC_CANCEL, "cancel"},
    };
    for (const auto& [op, name] : ops) {
      if (io_uring_opcode_supported(probe, op) == 0) {
        io_uring_free_probe(probe);
        why = std::string("io_uring: this kernel has no ") + name + " operation";
        return nullptr;
      }
    }
    io_uring_free_probe(probe);
  }
  auto ring = std::unique_ptr<Ring>(new Ring(std::move(impl), mode));
  constexpr std::uint64_t kProbe = 1;
  ring->recv(a.get(), kProbe);
  const char byte = 'x';
  if (::write(b.get(), &byte, 1) != 1) {
    why = net::SysError{"write", errno}.message();
    return nullptr;
  }
  // The receive completes (it holds the socketpair until then), so nothing
  // of the probe reaches the loop.
  std::vector<Completion> got;
  bool done = false;
  bool delivered = false;
  for (int i = 0; i < 10 && !done; ++i) {
    if (const auto e = ring->wait(100, got); !e.ok()) {
      why = e.message();
      return nullptr;
    }
    for (const Completion& c : got) {
      if (c.has_buffer) ring->recycle(c.buffer);
      if (c.user_data != kProbe) continue;
      done = true;
      if (c.res < 0) {
        why = net::SysError{"io_uring recv", -c.res}.message();
        return nullptr;
      }
      delivered = c.res == 1 && c.has_buffer;
    }
  }
  if (!delivered) {
    why = done ? "io_uring: this kernel cannot receive into provided buffers (5.19+)"
               : "io_uring: the probe's receive never completed";
    return nullptr;
  }
  return ring;
}

void Ring::accept(int listener, sockaddr_storage* addr, socklen_t* len, std::uint64_t user_data) {
  io_uring_sqe* s = impl_->sqe();
  io_uring_prep_accept(s, listener, reinterpret_cast<sockaddr*>(addr), len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, user_data);
}

void Ring::recv(int fd, std::uint64_t user_data) {
  io_uring_sqe* s = impl_->sqe();
  io_uring_prep_recv(s, fd, nullptr, 0, 0);
  s->ioprio |= IORING_RECVSEND_POLL_FIRST;
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  io_uring_sqe_set_data64(s, user_data);
}

void Ring::send(int fd, std::span<const std::byte> bytes, std::uint64_t user_data) {
  io_uring_sqe* s = impl_->sqe();
  io_uring_prep_send(s, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, user_data);
}

void Ring::poll_multishot(int fd, std::uint64_t user_data) {
  io_uring_sqe* s = impl_->sqe();
  io_uring_prep_poll_multishot(s, fd, POLLIN);
  io_uring_sqe_set_data64(s, user_data);
}

void Ring::poll_writable(int fd, std::uint64_t user_data) {
  io_uring_sqe* s = impl_->sqe();
  io_uring_prep_poll_add(s, fd, POLLOUT);
  io_uring_sqe_set_data64(s, user_data);
}

void Ring::cancel(std::uint64_t target, std::uint64_t user_data) {
  io_uring_sqe* s = impl_->sqe();
  io_uring_prep_cancel64(s, target, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(s, user_data);
}

net::SysError Ring::enable() {
  // liburing 2.3 declares io_uring_enable_rings() but does not export it.
  if (::syscall(__NR_io_uring_register, impl_->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr,
                0) != 0) {
    return {"io_uring_register", errno};
  }
  return {};
}

net::SysError Ring::submit() {
  impl_->publish();
  for (;;) {
    const int r = io_uring_submit(&impl_->ring);
    if (r >= 0) return {};
    if (r == -EINTR) continue;
    return {"io_uring_enter", -r};
  }
}

net::SysError Ring::wait(int timeout_ms, std::vector<Completion>& out) {
  out.clear();
  impl_->publish();
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts{};
  __kernel_timespec* tsp = nullptr;
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
    tsp = &ts;
  }
  // One system call submits everything queued and waits.
  const int r = io_uring_submit_and_wait_timeout(&impl_->ring, &cqe, 1, tsp, nullptr);
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
    return {"io_uring_enter", -r};
  }
  auto& batch = impl_->batch;
  batch.resize(std::max<std::size_t>(batch.size(), 256));
  for (;;) {
    const unsigned n =
        io_uring_peek_batch_cqe(&impl_->ring, batch.data(), static_cast<unsigned>(batch.size()));
    for (unsigned i = 0; i < n; ++i) {
      const io_uring_cqe* c = batch[i];
      Completion done;
      done.user_data = c->user_data;
      done.res = c->res;
      done.more = (c->flags & IORING_CQE_F_MORE) != 0;
      done.has_buffer = (c->flags & IORING_CQE_F_BUFFER) != 0;
      done.buffer = static_cast<std::uint16_t>(c->flags >> IORING_CQE_BUFFER_SHIFT);
      out.push_back(done);
    }
    io_uring_cq_advance(&impl_->ring, n);
    if (n < batch.size()) break;
  }
  return {};
}

std::span<const std::byte> Ring::buffer(std::uint16_t id, std::size_t n) const noexcept {
  return {impl_->buffers + std::size_t{id} * impl_->buffer_size, std::min(n, impl_->buffer_size)};
}

void Ring::recycle(std::uint16_t id) noexcept { impl_->add_buffer(id); }

}  // namespace framed::loop
