// The io_uring side of Worker: the same connection logic (worker.cc), driven
// by completions instead of readiness. Requests are a few accepts on the
// listener, each re-armed as it completes (a multishot accept reports no
// peer address, which the logs and --proxy-from need, and getpeername()
// fails for a peer that reset meanwhile, such as a proxy's health check
// whose header is still to be read); a multishot poll on the wake-up
// eventfd; and per connection one receive into the ring's provided buffers,
// re-armed per completion (see Ring::recv for why not multishot), and at
// most one send (two sends on one socket may complete out of order), from
// the receive buffer itself when the socket is idle, else from the
// session's pinned backlog. Everything queued is submitted, and every
// completion reaped, by the one io_uring_enter of Ring::wait().
//
// The hazards, and where they are handled:
// - A late completion for a closed connection whose slot (and descriptor
//   number) a new connection reuses: user_data carries the slot and the low
//   bits of the connection's id, and a closed connection with requests in
//   flight lives on as a zombie, keyed by them, until its last completion.
//   Its descriptor stays open until then, so no request ever names a
//   descriptor number that was reused.
// - An empty buffer ring ends a receive with -ENOBUFS: the data stays in
//   the socket, and the connection queues for a re-arm, a ring's worth per
//   loop pass, oldest first (re-arming all at once would fail again for
//   all but a few: a storm of requests per buffer freed). Receives wait for
//   readability before taking a buffer, so idle connections never hold or
//   lack one, and one slow peer cannot starve the others.
// - A multishot completion without IORING_CQE_F_MORE (the wake-up poll)
//   ended that request: re-armed while wanted.
// - Backpressure: above the backlog cap the receive is cancelled and not
//   re-armed; bytes it delivered before the cancel took effect (one buffer
//   at most) are still handled.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/server.h"
#include "server/worker.h"
#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

// user_data: bits 0-31 the slot, 32-33 the operation, 34-63 the low 30 bits
// of the connection id. The worker's own requests use slot kSelf.
constexpr std::uint64_t kSlotMask = 0xFFFFFFFFU;
constexpr unsigned kOpShift = 32;
constexpr std::uint64_t kOpMask = std::uint64_t{3} << kOpShift;
constexpr unsigned kRecv = 0;
constexpr unsigned kSend = 1;
constexpr unsigned kCancel = 2;
constexpr std::uint64_t kSelf = kSlotMask;
constexpr unsigned kAccept = 0;
constexpr unsigned kWake = 1;

constexpr std::uint64_t self_data(unsigned op, std::uint64_t index = 0) noexcept {
  return kSelf | (std::uint64_t{op} << kOpShift) | (index << 34U);
}

// Same pause as the readiness path's accept back-off.
constexpr std::chrono::milliseconds kAcceptPause{100};

}  // namespace

std::uint64_t Worker::uring_data(const Conn& c, unsigned op) noexcept {
  return ((c.id() & 0x3FFFFFFFU) << 34U) | (std::uint64_t{op} << kOpShift) |
         static_cast<std::uint64_t>(c.slot);
}

net::SysError Worker::uring_init() {
  ring_->poll_multishot(wake_.get(), self_data(kWake));
  wake_armed_ = true;
  if (listener_) uring_arm_accept();
  return ring_->submit();
}

void Worker::uring_arm_accept() {
  if (!listener_) return;
  listener_watched_ = true;
  // An accept being cancelled is re-armed by its completion.
  for (std::size_t i = 0; i < accepts_.size(); ++i) {
    UringAccept& a = accepts_[i];
    if (a.armed) continue;
    a.len = sizeof a.addr;
    ring_->accept(listener_.get(), &a.addr, &a.len, self_data(kAccept, i));
    a.armed = true;
    ++accepts_armed_;
  }
}

void Worker::uring_stop_accept() {
  listener_watched_ = false;
  if (accepts_armed_ == 0) return;
  for (std::size_t i = 0; i < accepts_.size(); ++i) {
    if (accepts_[i].armed) ring_->cancel(self_data(kAccept, i), self_data(kCancel));
  }
  // At once: the listener may be closed next, and the accepts hold it open
  // (taking connections nobody would serve) until the cancel runs.
  if (const auto e = ring_->submit(); !e.ok()) log(LogLevel::error, e.message());
}

int Worker::uring_run() {
  if (!ring_) {
    log(LogLevel::error, "worker " + std::to_string(index_) + ": no io_uring ring");
    return 1;
  }
  if (const auto e = ring_->enable(); !e.ok()) {
    log(LogLevel::error, "worker " + std::to_string(index_) + ": " + e.message());
    return 1;
  }
  if (const auto e = uring_init(); !e.ok()) {
    log(LogLevel::error, e.message());
    return 1;
  }
  int rc = 0;
  for (;;) {
    auto now = Clock::now();
    if (!between_batches(now, rc)) break;
    if (const auto e = ring_->wait(wait_timeout(now), completions_); !e.ok()) {
      log(LogLevel::error, e.message());
      rc = 1;
      break;
    }
    now = Clock::now();
    for (const loop::Completion& done : completions_) {
      uring_on_completion(done, now);
      if (!dirty_.empty()) process_dirty(now);
    }
    expire_timers(now);
    if (!starved_.empty()) uring_rearm_starved(now);
  }
  uring_stopping_ = true;
  // Requests still in flight read connection memory; cancel them all and
  // reap their completions before anything is freed (bounded: a request
  // the kernel cannot cancel at once is abandoned after a second, and the
  // ring's teardown then ends it).
  close_listener();
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s]) close_now(s, "closed: worker stopping", LogLevel::debug);
  }
  if (wake_armed_) ring_->cancel(self_data(kWake), self_data(kCancel));
  for (int i = 0; i < 20 && (!zombies_.empty() || accepts_armed_ > 0 || wake_armed_); ++i) {
    if (!ring_->wait(50, completions_).ok()) break;
    for (const loop::Completion& done : completions_) uring_on_completion(done, Clock::now());
  }
  return rc;
}

void Worker::uring_on_completion(const loop::Completion& done, Clock::time_point now) {
  const auto slot = static_cast<std::size_t>(done.user_data & kSlotMask);
  const auto op = static_cast<unsigned>((done.user_data & kOpMask) >> kOpShift);
  if (slot == static_cast<std::size_t>(kSelf)) {
    if (op == kAccept) {
      uring_on_accept(done, now);
    } else if (op == kWake) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &count, sizeof count);
      if (!done.more) {
        wake_armed_ = false;
        if (done.res != -ECANCELED && !uring_stopping_) {
          ring_->poll_multishot(wake_.get(), self_data(kWake));
          wake_armed_ = true;
        }
      }
    }
    return;  // The flags are read at the top of the loop.
  }
  const std::uint64_t key = done.user_data & ~kOpMask;
  Conn* c = nullptr;
  if (slot < slots_.size() && slots_[slot] && uring_data(*slots_[slot], kRecv) == key) {
    c = slots_[slot].get();
  } else {
    const auto it = zombies_.find(key);
    if (it == zombies_.end()) {
      // Cannot happen: every request of a connection keeps it (live or
      // zombie) until its last completion. Recycle what it carried.
      if (done.has_buffer) ring_->recycle(done.buffer);
      log(LogLevel::error, "io_uring: completion for no connection (user_data " +
                               std::to_string(done.user_data) + ")");
      return;
    }
    Conn& z = *it->second;
    if (done.has_buffer) ring_->recycle(done.buffer);  // Input after the close: dropped.
    if (op == kRecv && !done.more) z.recv_armed = false;
    if (op == kSend) z.send_inflight = false;
    if (op == kCancel || !done.more) --z.inflight;
    if (z.inflight == 0) {
      uring_release_held(z);
      zombies_.erase(it);  // Closes the descriptor.
    }
    return;
  }
  switch (op) {
    case kRecv: uring_on_recv(*c, done, now); break;
    case kSend: uring_on_send(*c, done, now); break;
    default:
      // A cancel of this connection's receive finished (its receive's own
      // last completion re-arms it if wanted).
      --c->inflight;
      break;
  }
}

void Worker::uring_on_accept(const loop::Completion& done, Clock::time_point now) {
  const auto index = static_cast<std::size_t>(done.user_data >> 34U);
  if (index >= accepts_.size() || !accepts_[index].armed) return;
  UringAccept& a = accepts_[index];
  a.armed = false;
  --accepts_armed_;
  const int err = done.res < 0 ? -done.res : 0;
  if (uring_stopping_) {
    // Teardown: an accept that completed before its cancel. Nobody will
    // serve the connection; it is closed (by fd's destructor) at once.
    net::UniqueFd fd(done.res >= 0 ? done.res : -1);
    return;
  }
  if (err == EMFILE || err == ENFILE) {
    // Several accepts may fail in one batch; one shed per pause, as the
    // readiness path does (the pause's cancel comes too late for them).
    if (listener_ && now >= accept_paused_until) shed_for_emfile(now, err);
  } else if (err != 0 && err != ECANCELED && err != EINTR && err != ECONNABORTED && err != EPROTO) {
    log(LogLevel::error, net::SysError{"accept", err}.message() + "; pausing accepts");
    pause_accepting(now + kAcceptPause);
  }
  if (done.res >= 0) {
    // Copied first: the re-armed accept below reuses the storage.
    const sockaddr_storage addr = a.addr;
    const socklen_t len = a.len;
    net::UniqueFd fd(done.res);
    if (listener_ && listener_watched_) uring_arm_accept();
    adopt(std::move(fd), addr, len, now);
    return;
  }
  // Re-armed here unless paused or closed (then by the loop, or never).
  if (listener_ && listener_watched_) uring_arm_accept();
}

void Worker::uring_on_recv(Conn& c, const loop::Completion& done, Clock::time_point now) {
  const std::size_t slot = c.slot;
  const std::uint64_t id = c.id();
  if (!done.more) {
    c.recv_armed = false;
    c.recv_cancelling = false;
    --c.inflight;
  }
  Next next = Next::more;
  if (done.res > 0) {
    recv_buffer_ = done.buffer;
    recv_buffer_kept_ = false;
    next = on_input(slot, ring_->buffer(done.buffer, static_cast<std::size_t>(done.res)), now);
    recv_buffer_ = -1;
    // Nothing else views the buffer after on_input: other sends by view
    // were copied.
    if (!recv_buffer_kept_) ring_->recycle(done.buffer);
  } else {
    if (done.has_buffer) ring_->recycle(done.buffer);
    const int err = -done.res;
    if (done.res == 0) {
      next = on_eof(slot, now);
    } else if (err == ENOBUFS) {
      // Every buffer is in use: the data waits in the socket. Re-arming at
      // once would fail again for all but a few of the connections in the
      // same plight, a storm of requests per buffer freed; instead they
      // queue, and are re-armed in turn as buffers come back.
      c.recv_starved = true;
      starved_.emplace_back(slot, id);
      if (util::log_enabled(LogLevel::debug)) {
        log(LogLevel::debug, "conn " + c.peer() + ": receive buffers exhausted, re-arming");
      }
    } else if (err != ECANCELED) {
      close_now(slot, net::SysError{"recv", err}.message(), LogLevel::info);
      return;
    }
  }
  if (next == Next::gone || !slots_[slot] || slots_[slot]->id() != id) return;
  after_input(slot, now);
  if (slots_[slot] && slots_[slot]->id() == id) settle(slot, now);
}

void Worker::uring_on_send(Conn& c, const loop::Completion& done, Clock::time_point now) {
  const std::size_t slot = c.slot;
  const std::uint64_t id = c.id();
  c.send_inflight = false;
  --c.inflight;
  const bool from_held = c.sending_held;
  c.sending_held = false;
  if (done.res < 0) {
    if (!from_held) c.session.mark_written(0);  // Unpins; the bytes were not sent.
    close_now(slot, net::SysError{"send", -done.res}.message(), LogLevel::info);
    return;
  }
  const auto n = static_cast<std::size_t>(done.res);
  if (from_held) {
    Conn::Held& h = c.held.front();
    wrote(c, {}, h.bytes, n, now);
    c.held_bytes -= n;
    h.bytes = h.bytes.subspan(n);
    if (h.bytes.empty()) {
      ring_->recycle(h.buffer);
      --held_buffers_;
      c.held.erase(c.held.begin());
    }
  } else {
    // While pinned, pending() is exactly the bytes this send was given.
    wrote(c, {}, c.session.pending(), n, now);
    c.session.mark_written(n);
  }
  // A short send is continued, and echoes queued meanwhile go with it.
  uring_flush(c);
  advance_close(slot, now);
  if (slots_[slot] && slots_[slot]->id() == id) settle(slot, now);
}

void Worker::uring_rearm_starved(Clock::time_point now) {
  const std::size_t held = held_buffers_;
  std::size_t budget = config_.uring_buffers > held ? config_.uring_buffers - held : 0;
  while (budget > 0 && !starved_.empty()) {
    const auto [slot, id] = starved_.front();
    starved_.pop_front();
    if (slot >= slots_.size() || !slots_[slot] || slots_[slot]->id() != id) continue;
    Conn& c = *slots_[slot];
    c.recv_starved = false;
    settle(slot, now);
    if (c.recv_armed) --budget;
  }
}

void Worker::uring_interest(Conn& c) {
  const bool want = wants_read(c);
  if (want && !c.recv_armed && !c.recv_starved) {
    // One buffer per receive, re-armed while wanted: above the backlog cap
    // it is simply not re-armed, and the overshoot is one read, as with
    // epoll (see Ring::recv for why not multishot).
    ring_->recv(c.fd.get(), uring_data(c, kRecv));
    c.recv_armed = true;
    ++c.inflight;
  } else if (!want && c.recv_armed && !c.recv_cancelling) {
    ring_->cancel(uring_data(c, kRecv), uring_data(c, kCancel));
    c.recv_cancelling = true;
    ++c.inflight;
  }
}

void Worker::uring_flush(Conn& c) {
  if (c.send_inflight) return;
  if (!c.held.empty()) {
    ring_->send(c.fd.get(), c.held.front().bytes, uring_data(c, kSend));
    c.sending_held = true;
  } else if (c.session.pending_bytes() > 0) {
    ring_->send(c.fd.get(), c.session.pin(), uring_data(c, kSend));
  } else {
    return;
  }
  c.send_inflight = true;
  ++c.inflight;
}

void Worker::uring_release_held(Conn& c) {
  for (const Conn::Held& h : c.held) ring_->recycle(h.buffer);
  held_buffers_ -= c.held.size();
  c.held.clear();
  c.held_bytes = 0;
}

bool Worker::uring_send_direct(Conn& c, std::span<const std::span<const std::byte>> spans) {
  // Only when the socket is idle: echoes that arrive while a send is out
  // are better copied and coalesced into the next send (one send instead
  // of one per receive: measured, small frames lose about 10% otherwise).
  // And half the ring stays free for receives: peers that read slowly
  // hold their buffers, and must not starve everyone else's receives.
  if (recv_buffer_ < 0 || recv_buffer_kept_ || spans.size() != 1 || c.send_inflight ||
      !c.held.empty() || c.session.pending_bytes() != 0 ||
      held_buffers_ >= config_.uring_buffers / 2) {
    return false;
  }
  const auto id = static_cast<std::uint16_t>(recv_buffer_);
  const std::span<const std::byte> buf = ring_->buffer(id, config_.read_chunk);
  const std::span<const std::byte> bytes = spans[0];
  if (bytes.data() < buf.data() || bytes.data() + bytes.size() > buf.data() + buf.size()) {
    return false;  // Staged bytes, not a view of the buffer.
  }
  recv_buffer_kept_ = true;
  ++held_buffers_;
  c.held.push_back({id, bytes});
  c.held_bytes += bytes.size();
  uring_flush(c);
  return true;
}

void Worker::uring_retire(std::unique_ptr<Conn> c) {
  if (c->recv_armed && !c->recv_cancelling) {
    ring_->cancel(uring_data(*c, kRecv), uring_data(*c, kCancel));
    c->recv_cancelling = true;
    ++c->inflight;
  }
  if (c->send_inflight) {
    ring_->cancel(uring_data(*c, kSend), uring_data(*c, kCancel));
    ++c->inflight;
  }
  if (c->inflight == 0) {
    uring_release_held(*c);
    return;  // Nothing refers to it: freed, and closed.
  }
  const std::uint64_t key = uring_data(*c, kRecv);
  zombies_[key] = std::move(c);
}

}  // namespace framed::server
