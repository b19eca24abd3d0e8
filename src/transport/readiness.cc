#include "transport/readiness.h"

#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace framed::transport {
namespace {

// Tokens of the two descriptors that are not connections.
constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};
constexpr std::uint64_t kListenerToken = ~std::uint64_t{0} - 1;

constexpr std::size_t kMaxAcceptsPerWake = 64;
constexpr int kMaxReadsPerWake = 4;

}  // namespace

struct ReadinessTransport::Sock final : Socket {
  net::UniqueFd fd;
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  unsigned interest = loop::kNone;  // As registered with the poller.
  bool registered = false;
  bool want_read = false;   // As the last update() said.
  bool connecting = false;  // An outbound connect not yet finished.
  bool closed = false;

  // The poller token: the slab index, and the generation so that a stale
  // event never reaches a new socket in the same slot.
  [[nodiscard]] std::uint64_t token() const noexcept {
    return (std::uint64_t{generation} << 32U) | index;
  }
};

ReadinessTransport::Sock& ReadinessTransport::of(Socket& s) noexcept {
  return static_cast<Sock&>(s);
}

ReadinessTransport::ReadinessTransport(std::unique_ptr<loop::Poller> poller, std::size_t read_chunk,
                                       Sink& sink)
    : poller_(std::move(poller)), sink_(sink), read_buf_(read_chunk) {}

ReadinessTransport::~ReadinessTransport() = default;

net::SysError ReadinessTransport::init() {
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_) return {"eventfd", errno};
  return poller_->add(wake_.get(), kWakeToken, loop::kRead);
}

void ReadinessTransport::wake() noexcept {
  const std::uint64_t one = 1;
  // A full counter (never in practice) still leaves the fd readable.
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

net::SysError ReadinessTransport::poll(int timeout_ms) {
  return poller_->wait(timeout_ms, events_);
}

void ReadinessTransport::dispatch() {
  for (const loop::Event& e : events_) {
    if (e.token == kWakeToken) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &count, sizeof count);
      sink_.on_wake();
      continue;
    }
    if (e.token == kListenerToken) {
      if (listener_ && accepting_) accept_some(kMaxAcceptsPerWake);
      continue;
    }
    const auto index = static_cast<std::uint32_t>(e.token & 0xFFFFFFFFU);
    if (index >= socks_.size() || !socks_[index] || socks_[index]->token() != e.token) {
      continue;  // A socket closed earlier in this batch.
    }
    Sock& s = *socks_[index];
    if (s.connecting) {
      // Writable (or an error) ends a non-blocking connect; SO_ERROR says
      // how. Silent until the sink opens the socket for reading.
      s.connecting = false;
      const net::SysError result = net::connect_result(s.fd.get());
      if (poller_->modify(s.fd.get(), s.token(), loop::kNone).ok()) s.interest = loop::kNone;
      sink_.on_connected(s, result);
      continue;
    }
    // An error or hang-up: let read() or send() report what happened.
    if (e.error && !s.want_read && s.out.empty()) {
      // Neither read nor written (the handler paused its input, nothing is
      // owed): no call would report it, and the poller reports it on every
      // wait whatever the interest, which would spin the loop. Say it now.
      on_stalled_error(s);
      if (!s.closed) sink_.on_settle(s);
      between();
      continue;
    }
    if (e.readable || e.error) on_readable(s);
    if (!s.closed && (e.writable || e.error)) sink_.on_writable(s);
    if (!s.closed) sink_.on_settle(s);
    between();
  }
  closed_.clear();
}

void ReadinessTransport::on_stalled_error(Sock& s) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(s.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  // A hang-up without a pending error: the peer is gone both ways.
  sink_.on_error(s, {"recv", err != 0 ? err : ECONNRESET});
}

void ReadinessTransport::on_readable(Sock& s) {
  for (int i = 0; i < kMaxReadsPerWake && s.want_read && !s.closed; ++i) {
    const net::IoResult r = net::read_some(s.fd.get(), read_buf_);
    if (!r.error.ok()) {
      sink_.on_error(s, r.error);
      return;
    }
    if (r.would_block) return;
    if (r.eof) {
      sink_.on_eof(s);
      return;
    }
    if (sink_.on_input(s, std::span(read_buf_.data(), r.bytes)) == Flow::stop) return;
    // A short read drained the socket: reading again would only return
    // EAGAIN, one wasted syscall per wake-up. The poller reports new data.
    if (r.bytes < read_buf_.size()) return;
  }
}

net::SysError ReadinessTransport::set_listener(net::UniqueFd listener) {
  listener_ = std::move(listener);
  accepting_ = false;
  return poller_->add(listener_.get(), kListenerToken, loop::kNone);
}

void ReadinessTransport::accepting(bool on) {
  if (!listener_ || on == accepting_) return;
  if (poller_->modify(listener_.get(), kListenerToken, on ? loop::kRead : loop::kNone).ok()) {
    accepting_ = on;
  }
}

std::size_t ReadinessTransport::accept_queued(std::size_t max) { return accept_some(max); }

std::size_t ReadinessTransport::accept_some(std::size_t budget) {
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < budget && listener_; ++i) {
    net::Endpoint peer;
    peer.len = sizeof peer.addr;
    const int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer.addr), &peer.len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      // Transient: the peer gave up, or a signal arrived.
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      sink_.on_accept_error({"accept4", err});
      break;
    }
    ++accepted;
    sink_.on_accepted(make_socket(fd), peer);
  }
  return accepted;
}

ReadinessTransport::Sock& ReadinessTransport::make_socket(int fd) {
  auto sock = std::make_unique<Sock>();
  sock->fd.reset(fd);
  if (!free_.empty()) {
    sock->index = free_.back();
    free_.pop_back();
  } else {
    sock->index = static_cast<std::uint32_t>(socks_.size());
    socks_.emplace_back();
  }
  Sock& s = *sock;
  s.generation = next_generation_++;
  socks_[s.index] = std::move(sock);
  return s;
}

Socket* ReadinessTransport::connect(const net::Endpoint& peer, net::SysError& error) {
  net::UniqueFd fd;
  if (error = net::connect_to(peer, fd); !error.ok()) return nullptr;
  Sock& s = make_socket(fd.release());
  if (error = poller_->add(s.fd.get(), s.token(), loop::kWrite); !error.ok()) {
    close(s);
    return nullptr;
  }
  s.registered = true;
  s.interest = loop::kWrite;
  s.connecting = true;
  return &s;
}

bool ReadinessTransport::shed_one() {
  const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::size_t ReadinessTransport::listener_queue() {
  std::size_t n = SIZE_MAX;
  if (!listener_ || !net::listen_queue_length(listener_.get(), n).ok()) return SIZE_MAX;
  return n;
}

net::SysError ReadinessTransport::seal_listener() {
  if (!listener_) return {};
  return net::seal_listener(listener_.get());
}

void ReadinessTransport::close_listener() {
  if (!listener_) return;
  poller_->remove(listener_.get());
  listener_.reset();
  accepting_ = false;
}

net::SysError ReadinessTransport::open(Socket& socket) {
  Sock& s = of(socket);
  (void)net::set_nodelay(s.fd.get());
  // A connected socket is registered already (for its connect).
  if (auto e = s.registered ? poller_->modify(s.fd.get(), s.token(), loop::kRead)
                            : poller_->add(s.fd.get(), s.token(), loop::kRead);
      !e.ok()) {
    return e;
  }
  s.registered = true;
  s.interest = loop::kRead;
  s.want_read = true;
  return {};
}

net::SysError ReadinessTransport::update(Socket& socket, bool want_read) {
  Sock& s = of(socket);
  s.want_read = want_read;
  const unsigned want =
      (want_read ? loop::kRead : loop::kNone) | (s.out.empty() ? loop::kNone : loop::kWrite);
  if (want == s.interest) return {};
  // Only real changes reach the poller: with epoll each is a syscall.
  if (auto e = poller_->modify(s.fd.get(), s.token(), want); !e.ok()) return e;
  s.interest = want;
  return {};
}

Wrote ReadinessTransport::send(Socket& socket, std::span<const std::span<const std::byte>> spans) {
  Sock& s = of(socket);
  Wrote w;
  // The common case: write straight from the read buffer, in the same
  // wake-up, and copy only what the socket would not take.
  const net::IoResult r = net::write_spans(s.fd.get(), spans);
  if (!r.error.ok()) {
    w.error = r.error;
    return w;
  }
  w.bytes = r.bytes;
  std::size_t left = r.bytes;
  for (const auto& span : spans) {
    const std::size_t took = std::min(left, span.size());
    if (took > 0) w.frames += s.out.note_written(span.first(took));
    s.out.queue(span.subspan(took));
    left -= took;
  }
  return w;
}

Wrote ReadinessTransport::flush(Socket& socket) {
  Sock& s = of(socket);
  Wrote w;
  while (!s.out.empty()) {
    const net::IoResult r = net::write_some(s.fd.get(), s.out.pending());
    if (!r.error.ok()) {
      w.error = r.error;
      return w;
    }
    if (r.would_block) break;
    const bool partial = r.bytes < s.out.size();
    w.bytes += r.bytes;
    w.frames += s.out.mark_written(r.bytes);
    // A short write means the socket buffer is full; the next send() would
    // fail with EAGAIN. Wait for writability instead.
    if (partial) break;
  }
  return w;
}

void ReadinessTransport::shutdown_write(Socket& socket) {
  ::shutdown(of(socket).fd.get(), SHUT_WR);
}

bool ReadinessTransport::unacked(Socket& socket, std::size_t& out) {
  return net::unacked_bytes(of(socket).fd.get(), out).ok();
}

void ReadinessTransport::close(Socket& socket) {
  Sock& s = of(socket);
  if (s.closed) return;
  s.closed = true;
  s.owner = nullptr;
  if (s.registered) poller_->remove(s.fd.get());
  s.fd.reset();
  const std::uint32_t index = s.index;
  closed_.push_back(std::move(socks_[index]));
  free_.push_back(index);
}

void ReadinessTransport::finish() {
  close_listener();
  closed_.clear();
}

}  // namespace framed::transport
