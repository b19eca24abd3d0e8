#include "transport/uring_transport.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/log.h"

namespace framed::transport {
namespace {

using util::log;
using util::LogLevel;

// user_data: bits 0-31 the slot, 32-33 the operation, 34-63 the low 30 bits
// of the socket's generation. The transport's own requests use slot kSelf.
constexpr std::uint64_t kSlotMask = 0xFFFFFFFFU;
constexpr unsigned kOpShift = 32;
constexpr std::uint64_t kOpMask = std::uint64_t{3} << kOpShift;
constexpr unsigned kRecv = 0;
constexpr unsigned kSend = 1;
constexpr unsigned kCancel = 2;
constexpr unsigned kConnect = 3;  // A poll for the end of an outbound connect.
constexpr std::uint64_t kSelf = kSlotMask;
constexpr unsigned kAccept = 0;
constexpr unsigned kWake = 1;

constexpr std::uint64_t self_data(unsigned op, std::uint64_t index = 0) noexcept {
  return kSelf | (std::uint64_t{op} << kOpShift) | (index << 34U);
}

}  // namespace

struct UringTransport::Sock final : Socket {
  net::UniqueFd fd;
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  bool want_read = false;        // As the last update() said.
  bool recv_armed = false;       // A receive is outstanding.
  bool recv_cancelling = false;  // ... and a cancel of it was asked for.
  bool recv_starved = false;     // Ended by -ENOBUFS: queued for a re-arm.
  bool sending_held = false;     // The send in flight is held.front()'s.
  bool closed = false;           // A zombie while inflight > 0.
  bool connecting = false;       // Its connect's poll is in flight.
  unsigned inflight = 0;         // Requests whose last completion is due.
  // Echoes to send straight from provided buffers (at most one today),
  // ahead of the outbox (queued while it was empty). A buffer is recycled
  // once its bytes are all sent; a short send continues from it.
  struct Held {
    std::uint16_t buffer;
    std::span<const std::byte> bytes;  // Not yet sent.
  };
  std::vector<Held> held_sends;
};

UringTransport::Sock& UringTransport::of(Socket& s) noexcept { return static_cast<Sock&>(s); }

std::uint64_t UringTransport::data(const Sock& s, unsigned op) noexcept {
  return ((std::uint64_t{s.generation} & 0x3FFFFFFFU) << 34U) | (std::uint64_t{op} << kOpShift) |
         std::uint64_t{s.index};
}

UringTransport::UringTransport(std::unique_ptr<loop::Ring> ring, unsigned buffers,
                               std::size_t buffer_size, Sink& sink)
    : ring_(std::move(ring)), buffers_(buffers), buffer_size_(buffer_size), sink_(sink) {}

UringTransport::~UringTransport() = default;

net::SysError UringTransport::init() {
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_) return {"eventfd", errno};
  return {};
}

void UringTransport::wake() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

net::SysError UringTransport::start() {
  if (!ring_) return {"io_uring (no ring)", EINVAL};
  if (auto e = ring_->enable(); !e.ok()) return e;
  started_ = true;
  ring_->poll_multishot(wake_.get(), self_data(kWake));
  wake_armed_ = true;
  if (listener_ && accepting_) arm_accept();
  return ring_->submit();
}

net::SysError UringTransport::poll(int timeout_ms) {
  // Receives queued after -ENOBUFS are re-armed a ring's worth per
  // dispatch; the next one must come at once, not with the next event.
  if (!starved_.empty()) timeout_ms = 0;
  return ring_->wait(timeout_ms, completions_);
}

void UringTransport::dispatch() {
  for (const loop::Completion& done : completions_) {
    on_completion(done);
    between();
  }
  if (!starved_.empty()) rearm_starved();
  closed_.clear();
}

net::SysError UringTransport::set_listener(net::UniqueFd listener) {
  listener_ = std::move(listener);
  accepting_ = false;
  return {};
}

void UringTransport::accepting(bool on) {
  if (!listener_) return;
  accepting_ = on;
  if (!started_) return;  // start() arms them.
  if (on) {
    arm_accept();
  } else {
    stop_accept();
  }
}

void UringTransport::arm_accept() {
  if (!listener_) return;
  // An accept being cancelled is re-armed by its completion.
  for (std::size_t i = 0; i < accepts_.size(); ++i) {
    Accept& a = accepts_[i];
    if (a.armed) continue;
    a.len = sizeof a.addr;
    ring_->accept(listener_.get(), &a.addr, &a.len, self_data(kAccept, i));
    a.armed = true;
    ++accepts_armed_;
  }
}

void UringTransport::stop_accept() {
  if (accepts_armed_ == 0) return;
  for (std::size_t i = 0; i < accepts_.size(); ++i) {
    if (accepts_[i].armed) ring_->cancel(self_data(kAccept, i), self_data(kCancel));
  }
  // At once: the listener may be closed next, and the accepts hold it open
  // (taking connections nobody would serve) until the cancel runs.
  if (const auto e = ring_->submit(); !e.ok()) log(LogLevel::error, e.message());
}

UringTransport::Sock& UringTransport::make_socket(int fd) {
  auto sock = std::make_unique<Sock>();
  sock->fd.reset(fd);
  if (!free_.empty()) {
    sock->index = free_.back();
    free_.pop_back();
  } else {
    sock->index = static_cast<std::uint32_t>(socks_.size());
    socks_.emplace_back();
  }
  sock->generation = next_generation_++;
  Sock& s = *sock;
  socks_[s.index] = std::move(sock);
  return s;
}

std::size_t UringTransport::accept_queued(std::size_t max) {
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < max && listener_; ++i) {
    net::Endpoint peer;
    peer.len = sizeof peer.addr;
    const int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer.addr), &peer.len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      sink_.on_accept_error({"accept4", err});
      break;
    }
    ++accepted;
    sink_.on_accepted(make_socket(fd), peer);
  }
  return accepted;
}

bool UringTransport::shed_one() {
  const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::size_t UringTransport::listener_queue() {
  std::size_t n = SIZE_MAX;
  if (!listener_ || !net::listen_queue_length(listener_.get(), n).ok()) return SIZE_MAX;
  return n;
}

net::SysError UringTransport::seal_listener() {
  if (!listener_) return {};
  return net::seal_listener(listener_.get());
}

void UringTransport::close_listener() {
  if (!listener_) return;
  accepting_ = false;
  if (started_) stop_accept();
  listener_.reset();
}

void UringTransport::on_completion(const loop::Completion& done) {
  const auto slot = static_cast<std::uint32_t>(done.user_data & kSlotMask);
  const auto op = static_cast<unsigned>((done.user_data & kOpMask) >> kOpShift);
  if (slot == kSelf) {
    if (op == kAccept) {
      on_accept(done);
    } else if (op == kWake) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &count, sizeof count);
      if (!done.more) {
        wake_armed_ = false;
        if (done.res != -ECANCELED && !stopping_) {
          ring_->poll_multishot(wake_.get(), self_data(kWake));
          wake_armed_ = true;
        }
      }
      if (!stopping_) sink_.on_wake();
    }
    return;
  }
  Sock* s = slot < socks_.size() ? socks_[slot].get() : nullptr;
  if (s == nullptr || data(*s, op) != done.user_data) {
    // Cannot happen: every request of a socket keeps its slot (live or
    // zombie) until its last completion. Recycle what it carried.
    if (done.has_buffer) ring_->recycle(done.buffer);
    log(LogLevel::error, "io_uring: completion for no connection (user_data " +
                             std::to_string(done.user_data) + ")");
    return;
  }
  if (s->closed) {
    if (done.has_buffer) ring_->recycle(done.buffer);  // Input after the close: dropped.
    if (op == kRecv && !done.more) s->recv_armed = false;
    if (op == kSend) s->sending = false;
    if (op == kCancel || !done.more) --s->inflight;
    if (s->inflight == 0) {
      --zombies_;
      free_socket(*s);  // Closes the descriptor.
    }
    return;
  }
  switch (op) {
    case kRecv: on_recv(*s, done); break;
    case kSend: on_send(*s, done); break;
    case kConnect:
      --s->inflight;
      s->connecting = false;
      sink_.on_connected(*s, done.res < 0 ? net::SysError{"connect", -done.res}
                                          : net::connect_result(s->fd.get()));
      break;
    default:
      // A cancel of this socket's receive finished (its receive's own last
      // completion re-arms it if wanted).
      --s->inflight;
      break;
  }
}

void UringTransport::on_accept(const loop::Completion& done) {
  const auto index = static_cast<std::size_t>(done.user_data >> 34U);
  if (index >= accepts_.size() || !accepts_[index].armed) return;
  Accept& a = accepts_[index];
  a.armed = false;
  --accepts_armed_;
  const int err = done.res < 0 ? -done.res : 0;
  if (stopping_) {
    // Teardown: an accept that completed before its cancel. Nobody will
    // serve the connection; it is closed (by fd's destructor) at once.
    net::UniqueFd fd(done.res >= 0 ? done.res : -1);
    return;
  }
  if (err != 0 && err != ECANCELED && err != EINTR && err != ECONNABORTED && err != EPROTO) {
    sink_.on_accept_error({"accept", err});
  }
  if (done.res >= 0) {
    // Copied first: the re-armed accept below reuses the storage.
    net::Endpoint peer;
    std::memcpy(&peer.addr, &a.addr, sizeof a.addr);
    peer.len = a.len;
    Sock& s = make_socket(done.res);
    if (listener_ && accepting_) arm_accept();
    sink_.on_accepted(s, peer);
    return;
  }
  // Re-armed here unless paused or closed (then by accepting(), or never).
  if (listener_ && accepting_) arm_accept();
}

void UringTransport::on_recv(Sock& s, const loop::Completion& done) {
  if (!done.more) {
    s.recv_armed = false;
    s.recv_cancelling = false;
    --s.inflight;
  }
  if (done.res > 0) {
    recv_buffer_ = done.buffer;
    recv_buffer_kept_ = false;
    (void)sink_.on_input(s, ring_->buffer(done.buffer, static_cast<std::size_t>(done.res)));
    recv_buffer_ = -1;
    // Nothing else views the buffer after on_input: other sends by view
    // were copied.
    if (!recv_buffer_kept_) ring_->recycle(done.buffer);
  } else {
    if (done.has_buffer) ring_->recycle(done.buffer);
    const int err = -done.res;
    if (done.res == 0) {
      sink_.on_eof(s);
    } else if (err == ENOBUFS) {
      // Every buffer is in use: the data waits in the socket. Re-arming at
      // once would fail again for all but a few of the sockets in the same
      // plight, a storm of requests per buffer freed; instead they queue,
      // and are re-armed in turn as buffers come back.
      s.recv_starved = true;
      starved_.emplace_back(s.index, s.generation);
      if (util::log_enabled(LogLevel::debug)) {
        log(LogLevel::debug, "io_uring: receive buffers exhausted, re-arming in turn");
      }
    } else if (err != ECANCELED) {
      sink_.on_error(s, {"recv", err});
      return;
    }
  }
  if (!s.closed) sink_.on_settle(s);
}

void UringTransport::on_send(Sock& s, const loop::Completion& done) {
  s.sending = false;
  --s.inflight;
  const bool from_held = s.sending_held;
  s.sending_held = false;
  if (done.res < 0) {
    if (!from_held) (void)s.out.mark_written(0);  // Unpins; the bytes were not sent.
    sink_.on_error(s, {"send", -done.res});
    return;
  }
  const auto n = static_cast<std::size_t>(done.res);
  std::uint64_t frames = 0;
  if (from_held) {
    Sock::Held& h = s.held_sends.front();
    frames = s.out.note_written(h.bytes.first(n));
    s.held -= n;
    h.bytes = h.bytes.subspan(n);
    if (h.bytes.empty()) {
      ring_->recycle(h.buffer);
      --held_buffers_;
      s.held_sends.erase(s.held_sends.begin());
    }
  } else {
    // While pinned, pending() is exactly the bytes this send was given.
    frames = s.out.mark_written(n);
  }
  // A short send is continued, and bytes queued meanwhile go with it.
  start_send(s);
  sink_.on_sent(s, n, frames);
  if (!s.closed) sink_.on_settle(s);
}

void UringTransport::rearm_starved() {
  std::size_t budget = buffers_ > held_buffers_ ? buffers_ - held_buffers_ : 0;
  while (budget > 0 && !starved_.empty()) {
    const auto [slot, generation] = starved_.front();
    starved_.pop_front();
    if (slot >= socks_.size() || !socks_[slot] || socks_[slot]->generation != generation) continue;
    Sock& s = *socks_[slot];
    if (s.closed) continue;
    s.recv_starved = false;
    (void)update(s, s.want_read);
    if (s.recv_armed) --budget;
  }
}

Socket* UringTransport::connect(const net::Endpoint& peer, net::SysError& error) {
  net::UniqueFd fd;
  if (error = net::connect_to(peer, fd); !error.ok()) return nullptr;
  Sock& s = make_socket(fd.release());
  ring_->poll_writable(s.fd.get(), data(s, kConnect));
  s.connecting = true;
  ++s.inflight;
  return &s;
}

net::SysError UringTransport::open(Socket& socket) {
  (void)net::set_nodelay(of(socket).fd.get());
  return {};
}

net::SysError UringTransport::update(Socket& socket, bool want_read) {
  Sock& s = of(socket);
  s.want_read = want_read;
  if (want_read && !s.recv_armed && !s.recv_starved) {
    // One buffer per receive, re-armed while wanted: with reading off it is
    // simply not re-armed, and the overshoot is one read, as with epoll
    // (see Ring::recv for why not multishot).
    ring_->recv(s.fd.get(), data(s, kRecv));
    s.recv_armed = true;
    ++s.inflight;
  } else if (!want_read && s.recv_armed && !s.recv_cancelling) {
    ring_->cancel(data(s, kRecv), data(s, kCancel));
    s.recv_cancelling = true;
    ++s.inflight;
  }
  start_send(s);
  return {};
}

void UringTransport::start_send(Sock& s) {
  if (s.sending) return;
  if (!s.held_sends.empty()) {
    ring_->send(s.fd.get(), s.held_sends.front().bytes, data(s, kSend));
    s.sending_held = true;
  } else if (!s.out.empty()) {
    ring_->send(s.fd.get(), s.out.pin(), data(s, kSend));
  } else {
    return;
  }
  s.sending = true;
  ++s.inflight;
}

Wrote UringTransport::send(Socket& socket, std::span<const std::span<const std::byte>> spans) {
  Sock& s = of(socket);
  // The common case, as with the readiness transport: the echo of a whole
  // receive is sent straight from its provided buffer, which is held until
  // the send completes. Anything else (behind a backlog or a send in
  // flight, staged bytes, too many buffers held) is copied to the outbox
  // and sent from there.
  if (!send_direct(s, spans)) {
    for (const auto& span : spans) s.out.queue(span);
    start_send(s);
  }
  return {};
}

Wrote UringTransport::flush(Socket& socket) {
  start_send(of(socket));
  return {};
}

bool UringTransport::send_direct(Sock& s, std::span<const std::span<const std::byte>> spans) {
  // Only when the socket is idle: echoes that arrive while a send is out
  // are better copied and coalesced into the next send (one send instead
  // of one per receive: measured, small frames lose about 10% otherwise).
  // And half the ring stays free for receives: peers that read slowly
  // hold their buffers, and must not starve everyone else's receives.
  if (recv_buffer_ < 0 || recv_buffer_kept_ || spans.size() != 1 || s.sending ||
      !s.held_sends.empty() || !s.out.empty() || held_buffers_ >= buffers_ / 2) {
    return false;
  }
  const auto id = static_cast<std::uint16_t>(recv_buffer_);
  const std::span<const std::byte> buf = ring_->buffer(id, buffer_size_);
  const std::span<const std::byte> bytes = spans[0];
  if (bytes.data() < buf.data() || bytes.data() + bytes.size() > buf.data() + buf.size()) {
    return false;  // Staged bytes, not a view of the buffer.
  }
  recv_buffer_kept_ = true;
  ++held_buffers_;
  s.held_sends.push_back({id, bytes});
  s.held += bytes.size();
  start_send(s);
  return true;
}

void UringTransport::release_held(Sock& s) {
  for (const Sock::Held& h : s.held_sends) ring_->recycle(h.buffer);
  held_buffers_ -= s.held_sends.size();
  s.held_sends.clear();
  s.held = 0;
}

void UringTransport::shutdown_write(Socket& socket) { ::shutdown(of(socket).fd.get(), SHUT_WR); }

bool UringTransport::unacked(Socket& socket, std::size_t& out) {
  return net::unacked_bytes(of(socket).fd.get(), out).ok();
}

void UringTransport::close(Socket& socket) {
  Sock& s = of(socket);
  if (s.closed) return;
  s.closed = true;
  s.owner = nullptr;
  // Requests in flight read the socket's memory and name its descriptor:
  // cancel them, and keep both until the last one completes.
  if (s.recv_armed && !s.recv_cancelling) {
    ring_->cancel(data(s, kRecv), data(s, kCancel));
    s.recv_cancelling = true;
    ++s.inflight;
  }
  if (s.sending) {
    ring_->cancel(data(s, kSend), data(s, kCancel));
    ++s.inflight;
  }
  if (s.connecting) {
    ring_->cancel(data(s, kConnect), data(s, kCancel));
    ++s.inflight;
  }
  if (s.inflight == 0) {
    free_socket(s);
  } else {
    ++zombies_;
  }
}

void UringTransport::free_socket(Sock& s) {
  if (s.inflight > 0) return;
  release_held(s);
  const std::uint32_t slot = s.index;
  closed_.push_back(std::move(socks_[slot]));
  free_.push_back(slot);
}

void UringTransport::finish() {
  stopping_ = true;
  // Requests still in flight read socket memory; cancel them all and reap
  // their completions before anything is freed (bounded: a request the
  // kernel cannot cancel at once is abandoned after a second, and the
  // ring's teardown then ends it).
  close_listener();
  if (wake_armed_) ring_->cancel(self_data(kWake), self_data(kCancel));
  for (int i = 0; i < 20 && (zombies_ > 0 || accepts_armed_ > 0 || wake_armed_); ++i) {
    if (!ring_->wait(50, completions_).ok()) break;
    for (const loop::Completion& done : completions_) on_completion(done);
    closed_.clear();
  }
}

}  // namespace framed::transport
