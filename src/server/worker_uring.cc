// The io_uring side of Worker: the same connection logic (worker.cc), driven
// by completions instead of readiness. Requests are a few accepts on the
// listener (each re-armed as it completes: a multishot accept would report
// no peer address, which the logs and --proxy-from need, and getpeername()
// fails for a peer that reset meanwhile, such as a proxy's health check
// whose header is still to be read), a multishot poll on the wake-up
// eventfd, and per connection
// one multishot receive into the ring's provided buffers and at most one
// send (two sends on one socket may complete out of order), whose bytes are
// the session's pinned backlog. Everything queued is submitted, and every
// completion reaped, by the one io_uring_enter of Ring::wait().
//
// The hazards, and where they are handled:
// - A late completion for a closed connection whose slot (and descriptor
//   number) a new connection reuses: user_data carries the slot and the low
//   bits of the connection's id, and a closed connection with requests in
//   flight lives on as a zombie, keyed by them, until its last completion.
//   Its descriptor stays open until then, so no request ever names a
//   descriptor number that was reused.
// - An empty buffer ring ends a multishot receive with -ENOBUFS: the data
//   stays in the socket and the receive is re-armed after the batch, when
//   every buffer has been recycled (none is held past its completion), so
//   one slow peer cannot starve the others.
// - A multishot completion without IORING_CQE_F_MORE ended that request:
//   re-armed while the connection still wants it.
// - Backpressure cancels the receive; bytes it delivered before the cancel
//   took effect are still handled (bounded by the buffer ring).
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
  std::string why;
  ring_ = loop::Ring::create(ring_options(config_), why);
  if (!ring_) {
    log(LogLevel::error, "worker " + std::to_string(index_) + ": " + why);
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
  }
  // Requests still in flight read connection memory; cancel them all and
  // reap their completions before anything is freed (bounded: a request
  // the kernel cannot cancel at once is abandoned after a second, and the
  // ring's teardown then ends it).
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s]) close_now(s, "closed: worker stopping", LogLevel::debug);
  }
  close_listener();
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
        if (done.res != -ECANCELED) {
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
    if (z.inflight == 0) zombies_.erase(it);  // Closes the descriptor.
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
  if (err == EMFILE || err == ENFILE) {
    if (listener_) shed_for_emfile(now, err);
  } else if (err != 0 && err != ECANCELED && err != EINTR && err != ECONNABORTED &&
             err != EPROTO) {
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
    next = on_input(slot, ring_->buffer(done.buffer, static_cast<std::size_t>(done.res)), now);
    // Nothing views the buffer after on_input: sends by view were copied.
    ring_->recycle(done.buffer);
  } else {
    if (done.has_buffer) ring_->recycle(done.buffer);
    const int err = -done.res;
    if (done.res == 0) {
      next = on_eof(slot, now);
    } else if (err == ENOBUFS) {
      // Every buffer is in use: the data waits in the socket, and settle()
      // re-arms the receive once this batch has recycled them.
      log(LogLevel::debug, "conn " + c.peer() + ": receive buffers exhausted, re-arming");
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
  if (done.res < 0) {
    c.session.mark_written(0);  // Unpins; the bytes were not sent.
    close_now(slot, net::SysError{"send", -done.res}.message(), LogLevel::info);
    return;
  }
  const auto n = static_cast<std::size_t>(done.res);
  // While pinned, pending() is exactly the bytes this send was given.
  wrote(c, {}, c.session.pending(), n, now);
  c.session.mark_written(n);
  // A short send is continued, and echoes queued meanwhile go with it.
  uring_flush(c);
  advance_close(slot, now);
  if (slots_[slot] && slots_[slot]->id() == id) settle(slot, now);
}

void Worker::uring_interest(Conn& c) {
  const bool want = wants_read(c);
  if (want && !c.recv_armed) {
    ring_->recv_multishot(c.fd.get(), uring_data(c, kRecv));
    c.recv_armed = true;
    ++c.inflight;
  } else if (!want && c.recv_armed && !c.recv_cancelling) {
    ring_->cancel(uring_data(c, kRecv), uring_data(c, kCancel));
    c.recv_cancelling = true;
    ++c.inflight;
  }
}

void Worker::uring_flush(Conn& c) {
  if (c.send_inflight || c.session.pending_bytes() == 0) return;
  ring_->send(c.fd.get(), c.session.pin(), uring_data(c, kSend));
  c.send_inflight = true;
  ++c.inflight;
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
  if (c->inflight == 0) return;  // Nothing refers to it: freed, and closed.
  const std::uint64_t key = uring_data(*c, kRecv);
  zombies_[key] = std::move(c);
}

}  // namespace framed::server
