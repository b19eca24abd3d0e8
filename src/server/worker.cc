#include "server/worker.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "net/proxy_text.h"
#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

std::string hex_header(std::uint32_t length) {
  const auto h = encode_header(length);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02x %02x %02x %02x", std::to_integer<unsigned>(h[0]),
                std::to_integer<unsigned>(h[1]), std::to_integer<unsigned>(h[2]),
                std::to_integer<unsigned>(h[3]));
  return buf;
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// Tokens of the two descriptors that are not connections.
constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};
constexpr std::uint64_t kListenerToken = ~std::uint64_t{0} - 1;

// The owner's increment of its own counter: no other thread writes it, so a
// plain load and store suffice (readers see a value at most one step old).
void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

void drop(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

constexpr std::chrono::milliseconds kAcceptPause{100};
constexpr std::chrono::seconds kRefuseLogInterval{1};
constexpr int kMaxAcceptsPerWake = 64;
constexpr int kMaxReadsPerWake = 4;
// While lingering, how often to ask the kernel whether the peer has
// everything: acknowledgements raise no event we could wait for.
constexpr std::chrono::milliseconds kDeliveryCheck{100};
// At shutdown, connections still in the listen queue are accepted (and
// closed cleanly) before the listener closes; this bounds that loop.
constexpr int kMaxAcceptsAtShutdown = 65'536;

}  // namespace

Worker::Worker(std::size_t index, Shared& shared, std::unique_ptr<loop::Poller> poller,
               net::UniqueFd listener)
    : index_(index),
      shared_(shared),
      config_(shared.config()),
      poller_(std::move(poller)),
      listener_(std::move(listener)),
      read_buf_(config_.read_chunk) {
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // serve() has already refused a bad list; a range that fails here is
  // dropped, which refuses more peers, never fewer.
  std::string bad;
  (void)net::parse_cidrs(config_.proxy_from, proxy_from_, bad);
}

net::SysError Worker::init() {
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_) return {"eventfd", errno};
  if (uring()) return {};  // The ring is set up by run(), on its thread.
  if (auto e = poller_->add(wake_.get(), kWakeToken, loop::kRead); !e.ok()) return e;
  if (listener_) {
    if (auto e = poller_->add(listener_.get(), kListenerToken, loop::kRead); !e.ok()) return e;
    listener_watched_ = true;
  }
  return {};
}

void Worker::wake() noexcept {
  const std::uint64_t one = 1;
  // A full counter (never in practice) still leaves the fd readable.
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

bool Worker::between_batches(Clock::time_point now, int& rc) {
  if (shared_.exit_requested()) {
    rc = 1;
    return false;
  }
  // Between batches: every counter of the events so far is up to date.
  if (const auto req = shared_.report_requested();
      req != report_ack_.load(std::memory_order_relaxed)) {
    report_ack_.store(req, std::memory_order_release);
  }
  if (!shutting_down_ && shared_.stop_requested()) begin_shutdown(now);
  if (shutting_down_) {
    // io_uring: an accept may have taken a connection before its cancel;
    // its completion is still due, and the connection gets the same clean
    // close as every other (§6.7).
    if (open_conns_ == 0 && accepts_armed_ == 0) {
      log(LogLevel::debug, "worker " + std::to_string(index_) + ": all connections closed");
      rc = 0;
      return false;
    }
    if (now >= drain_deadline_) {
      log(LogLevel::warn, "drain timeout " + ms_text(config_.drain_timeout) +
                              " expired: force-closing " + std::to_string(open_conns_) +
                              " connection(s)");
      for (std::size_t s = 0; s < slots_.size(); ++s) {
        if (slots_[s]) close_now(s, "drain timeout", LogLevel::debug);
      }
      rc = 0;
      return false;
    }
  }
  if (listener_ && !listener_watched_ && now >= accept_paused_until) {
    if (uring()) {
      uring_arm_accept();
    } else if (poller_->modify(listener_.get(), kListenerToken, loop::kRead).ok()) {
      listener_watched_ = true;
    }
  }
  return true;
}

int Worker::run() {
  if (uring()) return uring_run();
  for (;;) {
    auto now = Clock::now();
    if (int rc = 0; !between_batches(now, rc)) return rc;
    if (const auto e = poller_->wait(wait_timeout(now), events_); !e.ok()) {
      log(LogLevel::error, e.message());
      return 1;
    }
    now = Clock::now();
    for (const loop::Event& e : events_) {
      if (e.token == kWakeToken) {
        std::uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &count, sizeof count);
        continue;  // The flags are read at the top of the loop.
      }
      if (e.token == kListenerToken) {
        if (listener_ && listener_watched_) accept_ready(now, kMaxAcceptsPerWake);
        continue;
      }
      const auto slot = static_cast<std::size_t>(e.token & 0xFFFFFFFFU);
      if (slot >= slots_.size() || !slots_[slot] || token_of(slot, slots_[slot]->id()) != e.token) {
        continue;  // A connection closed earlier in this batch.
      }
      // An error or hang-up: let read() or send() report what happened.
      if (e.readable || e.error) on_readable(slot, now);
      if (slots_[slot] && (e.writable || e.error)) on_writable(slot, now);
      if (slots_[slot]) settle(slot, now);
      if (!dirty_.empty()) process_dirty(now);
    }
    expire_timers(now);
  }
}

bool Worker::wants_read(const Conn& c) const {
  if (c.peer_eof) return false;
  if (c.phase == Phase::linger) return true;
  // Backpressure: a client that does not read its echoes stops being read.
  // (held_bytes: io_uring echoes sent from receive buffers; 0 otherwise.)
  return c.phase == Phase::open && c.session.pending_bytes() + c.held_bytes < config_.backlog_cap;
}

int Worker::wait_timeout(Clock::time_point now) const {
  auto next = Clock::time_point::max();
  if (!timers_.empty()) next = timers_.top().when;
  if (shutting_down_) next = std::min(next, drain_deadline_);
  if (listener_ && accept_paused_until > now) next = std::min(next, accept_paused_until);
  // io_uring: receives queued after -ENOBUFS are re-armed a ring's worth
  // per pass; the next pass must come at once, not with the next event.
  if (!starved_.empty()) next = now;
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  // Round up so we never wake a hair early and spin until the deadline.
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<std::int64_t>(wait, 60'000));
}

void Worker::begin_shutdown(Clock::time_point now) {
  shutting_down_ = true;
  drain_deadline_ = shared_.drain_deadline();
  // Connections the kernel completed before the signal wait in the listen
  // queue; closing the listener would reset them. Accept them first: they
  // are closed cleanly below, like every connection with no frame begun.
  const std::uint64_t before = counters_.accepted.load(std::memory_order_relaxed);
  if (listener_) accept_ready(now, kMaxAcceptsAtShutdown);
  const std::uint64_t queued = counters_.accepted.load(std::memory_order_relaxed) - before;
  // Closing the listener now means later clients are refused by the kernel
  // rather than accepted and dropped.
  close_listener();
  log(LogLevel::debug,
      "worker " + std::to_string(index_) + ": listener closed" +
          (queued > 0 ? " (" + std::to_string(queued) + " queued accepted)" : std::string()) +
          ", draining " + std::to_string(open_conns_) + " connection(s)");
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    Conn* c = slots_[s].get();
    if (c == nullptr || c->phase != Phase::open) continue;
    if (c->session.in_frame()) {
      c->draining = true;  // Read on to the end of this frame only.
    } else {
      begin_close(*c, now, "server shutting down", LogLevel::debug);
      advance_close(s, now);
    }
    if (slots_[s]) settle(s, now);
  }
  process_dirty(now);
  shared_.ack_stop();
}

void Worker::close_listener() {
  if (!listener_) return;
  if (uring()) {
    uring_stop_accept();
  } else {
    poller_->remove(listener_.get());
  }
  listener_.reset();
  listener_watched_ = false;
}

void Worker::pause_accepting(Clock::time_point until) {
  accept_paused_until = until;
  if (uring()) {
    uring_stop_accept();
    return;
  }
  if (listener_ && listener_watched_ &&
      poller_->modify(listener_.get(), kListenerToken, loop::kNone).ok()) {
    listener_watched_ = false;
  }
}

void Worker::accept_ready(Clock::time_point now, int budget) {
  for (int i = 0; i < budget && listener_; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // Transient: the peer gave up, or a signal arrived.
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      if (err == EMFILE || err == ENFILE) {
        shed_for_emfile(now, err);
        return;
      }
      // ENOBUFS, ENOMEM and the like: back off instead of spinning.
      log(LogLevel::error, net::SysError{"accept4", err}.message() + "; pausing accepts");
      pause_accepting(now + kAcceptPause);
      return;
    }
    adopt(net::UniqueFd(fd), addr, len, now);
  }
}

void Worker::adopt(net::UniqueFd conn_fd, const sockaddr_storage& addr, socklen_t len,
                   Clock::time_point now) {
  {
    const int fd = conn_fd.get();
    if (config_.proxy_protocol && !net::contains_any(proxy_from_, addr)) {
      // A header from anyone could claim any address: only the proxies we
      // trust may send one, and a direct client cannot be served without.
      net::Endpoint who;
      std::memcpy(&who.addr, &addr, sizeof addr);
      who.len = len;
      bump(counters_.refused);
      // At most one line a second, so a flood of strangers cannot flood
      // the log; the count says how many were refused since the last one.
      ++strangers_unlogged_;
      if (now - last_stranger_log_ >= kRefuseLogInterval) {
        log(LogLevel::warn, "conn " + who.to_string() +
                                " refused: not in --proxy-from, so it may not send a PROXY " +
                                "header (" + std::to_string(strangers_unlogged_) +
                                " such refusal(s))");
        last_stranger_log_ = now;
        strangers_unlogged_ = 0;
      }
      return;
    }
    if (!shared_.try_reserve()) {
      // Accept-and-close, so the client learns at once instead of waiting in
      // the backlog.
      bump(counters_.refused);
      ++refusals_unlogged_;
      if (now - last_refuse_log >= kRefuseLogInterval) {
        log(LogLevel::warn, "connection limit " + std::to_string(config_.max_conns) +
                                " reached: refused " + std::to_string(refusals_unlogged_) +
                                " connection(s)");
        last_refuse_log = now;
        refusals_unlogged_ = 0;
      }
      return;
    }
    (void)net::set_nodelay(fd);
    net::Endpoint peer;
    std::memcpy(&peer.addr, &addr, sizeof addr);
    peer.len = len;
    std::size_t slot = 0;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      slot = slots_.size();
      slots_.emplace_back();
    }
    slots_[slot] = std::make_unique<Conn>(this, std::move(conn_fd), next_id_++, slot,
                                          peer.to_string(), config_.max_frame);
    Conn& c = *slots_[slot];
    slot_of_[c.id()] = slot;
    c.last_activity = now;
    c.last_progress = now;
    ++open_conns_;
    bump(counters_.accepted);
    bump(counters_.open);
    if (!uring()) {
      if (const auto e = poller_->add(c.fd.get(), token_of(slot, c.id()), loop::kRead); !e.ok()) {
        close_now(slot, e.message(), LogLevel::error);
        return;
      }
      c.interest = loop::kRead;
    }
    log(LogLevel::debug, "conn " + c.peer() + " accepted");
    if (shutting_down_) {
      begin_close(c, now, "server shutting down", LogLevel::debug);
    } else if (config_.proxy_protocol) {
      c.awaiting_proxy = true;
      c.proxy_deadline = now + config_.proxy_timeout;
    } else {
      open_to_handler(c);
    }
    advance_close(slot, now);
    process_dirty(now);
    if (slots_[slot] && slots_[slot]->id() == c.id()) settle(slot, now);
  }
}

void Worker::shed_for_emfile(Clock::time_point now, int err) {
  // Out of descriptors: the pending connection would make poll() report the
  // listener readable forever. Free the spare descriptor, accept and close
  // the connection, take the spare back, and pause accepting for a moment.
  spare_fd_.reset();
  const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    bump(counters_.refused);
  }
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  pause_accepting(now + kAcceptPause);
  ++refusals_unlogged_;
  if (now - last_refuse_log >= kRefuseLogInterval) {
    log(LogLevel::warn, net::SysError{"accept4", err}.message() + ": shed " +
                            std::to_string(refusals_unlogged_) +
                            " connection(s), pausing accepts for " + ms_text(kAcceptPause));
    last_refuse_log = now;
    refusals_unlogged_ = 0;
  }
}

void Worker::on_readable(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  for (int i = 0; i < kMaxReadsPerWake && wants_read(c); ++i) {
    const net::IoResult r = net::read_some(c.fd.get(), read_buf_);
    if (!r.error.ok()) {
      close_now(slot, r.error.message(), LogLevel::info);
      return;
    }
    if (r.would_block) break;
    const Next next =
        r.eof ? on_eof(slot, now) : on_input(slot, std::span(read_buf_.data(), r.bytes), now);
    if (next == Next::gone) return;
    if (next == Next::stop || r.eof) break;
    // A short read drained the socket: reading again would only return
    // EAGAIN, one wasted syscall per wake-up. poll() reports new data.
    if (r.bytes < read_buf_.size()) break;
  }
  after_input(slot, now);
}

void Worker::after_input(std::size_t slot, Clock::time_point now) {
  if (slots_[slot] && slots_[slot]->phase != Phase::open) {
    if (flush(slot, now)) advance_close(slot, now);
  }
}

Worker::Next Worker::on_eof(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  c.peer_eof = true;
  if (c.phase == Phase::linger) {
    close_now(slot, "closed: peer sent EOF while lingering", LogLevel::debug);
    return Next::gone;
  }
  if (c.awaiting_proxy && c.phase == Phase::open) {
    // No handler has seen this connection: nothing to tell it. A peer
    // that sends nothing at all (a plain TCP check) is not an error.
    const ProxyError e = c.proxy.finish();
    if (e == ProxyError::none) {
      begin_close(c, now, "peer closed before a PROXY header", LogLevel::debug);
    } else {
      begin_close(c, now,
                  "peer closed mid PROXY header (" + std::string(to_string(e)) + " at offset " +
                      std::to_string(c.proxy.error_offset()) + ")",
                  LogLevel::info);
    }
    return Next::stop;
  }
  // The handler learns of the end, with the header bytes held back while
  // they could still turn out oversize (an echo sends them: the echo
  // stops exactly where the input stopped).
  if (c.phase == Phase::open) {
    batch_conn_ = &c;
    batch_input_ = {};
    handler_->on_end_of_input(c, c.session.end_of_input());
    batch_conn_ = nullptr;
    if (!flush_batch(slot, now)) return Next::gone;
  }
  const std::uint64_t at = c.session.decoder().offset();
  if (c.session.in_frame()) {
    begin_close(c, now, "peer closed mid-frame at stream offset " + std::to_string(at),
                LogLevel::info);
  } else {
    begin_close(c, now, "peer closed", LogLevel::debug);
  }
  return Next::stop;
}

Worker::Next Worker::on_input(std::size_t slot, std::span<const std::byte> got,
                              Clock::time_point now) {
  Conn& c = *slots_[slot];
  c.last_activity = now;
  // Lingering input is discarded on purpose. (A completion backend may also
  // deliver bytes received just before a close began: they are never
  // echoed, exactly as a readiness backend would never have read them.)
  if (c.phase != Phase::open) return Next::more;
  if (c.awaiting_proxy) {
    if (!read_proxy_header(c, got, now)) return Next::stop;
    // The header took the whole read (or is still incomplete).
    if (got.empty()) return Next::more;
  }
  const auto frames_before = c.session.frames_done();
  const auto used = deliver(c, got);
  if (!flush_batch(slot, now)) return Next::gone;
  if (c.phase != Phase::open) return Next::stop;  // The handler closed it.
  if (used.error != DecodeError::none) {
    bump(counters_.protocol_errors);
    const auto length = c.session.decoder().frame_length();
    begin_close(c, now,
                "protocol error: " + std::string(to_string(used.error)) + " (length " +
                    std::to_string(length) + " > limit " + std::to_string(config_.max_frame) +
                    ", header " + hex_header(length) + ") at stream offset " +
                    std::to_string(c.session.decoder().error_offset()),
                LogLevel::warn);
    return Next::stop;
  }
  if (c.draining && !c.session.in_frame()) {
    begin_close(c, now, "server shutting down (frame in progress finished)", LogLevel::debug);
    return Next::stop;
  }
  // The frame timer runs from the first byte of the frame now in progress;
  // a frame that ended and another that began in this read restart it.
  if (!c.session.in_frame()) {
    c.frame_open = false;
  } else if (!c.frame_open || c.session.frames_done() != frames_before) {
    c.frame_open = true;
    c.frame_started = now;
  }
  return Next::more;
}

bool Worker::read_proxy_header(Conn& c, std::span<const std::byte>& got, Clock::time_point now) {
  const ProxyResult r = c.proxy.feed(got);
  // Bytes after the header in this read belong to the frame stream.
  got = got.subspan(r.consumed);
  if (r.status == ProxyStatus::need_more) return true;
  if (r.status == ProxyStatus::error) {
    bump(counters_.protocol_errors);
    begin_close(c, now,
                "bad PROXY header: " + std::string(to_string(c.proxy.error())) + " at offset " +
                    std::to_string(c.proxy.error_offset()),
                LogLevel::warn);
    return false;
  }
  c.awaiting_proxy = false;
  const ProxyHeader& h = c.proxy.header();
  if (h.has_addresses()) {
    // From here on the connection is the client's: every log line, and the
    // handler through Connection::peer(), names the address the proxy saw.
    const std::string client = net::address_text(h.family, h.source);
    log(LogLevel::debug,
        "conn " + client + " via proxy " + c.peer() + " (" + net::describe(h) + ")");
    c.rename_peer(client);
  } else {
    // LOCAL (the proxy's own health check) or an address-less family: the
    // real endpoints stand, and this is no error.
    log(LogLevel::debug, "conn " + c.peer() + " " + net::describe(h) + ": real address kept");
  }
  open_to_handler(c);
  return c.phase == Phase::open;
}

void Worker::open_to_handler(Conn& c) {
  c.opened = true;
  handler_->on_open(c);
}

void Worker::on_writable(std::size_t slot, Clock::time_point now) {
  if (!flush(slot, now)) return;
  advance_close(slot, now);
}

Session::Consumed Worker::deliver(Conn& c, std::span<const std::byte> got) {
  batch_conn_ = &c;
  batch_input_ = got;
  Session::Consumed used;
  if (handler_->delivery() == Delivery::chunks) {
    used = c.session.read(got, c.draining, [&](const Chunk& chunk) {
      if (c.phase == Phase::open) handler_->on_chunk(c, chunk);
    });
  } else {
    used = c.session.read(got, c.draining, [&](const Chunk& chunk) {
      if (c.phase != Phase::open) return;
      if (chunk.first && chunk.last) {
        handler_->on_frame(c, chunk.payload);  // Whole in this read: no copy.
        return;
      }
      // Grows with the bytes that arrive, never with the announced length.
      if (chunk.first) c.frame_buf.clear();
      c.frame_buf.insert(c.frame_buf.end(), chunk.payload.begin(), chunk.payload.end());
      if (chunk.last) {
        handler_->on_frame(c, c.frame_buf);
        c.frame_buf.clear();
        if (c.frame_buf.capacity() > (1U << 20U)) c.frame_buf.shrink_to_fit();
      }
    });
  }
  batch_conn_ = nullptr;
  batch_input_ = {};
  return used;
}

bool Worker::send(Conn& c, std::span<const std::byte> bytes) {
  if (c.phase != Phase::open || c.destroying) return false;
  if (bytes.empty()) return true;
  if (&c == batch_conn_ && c.session.pending_bytes() == 0) {
    const bool in_input = !batch_input_.empty() && bytes.data() >= batch_input_.data() &&
                          bytes.data() + bytes.size() <= batch_input_.data() + batch_input_.size();
    if (in_input) {
      // Adjacent views merge: an echo of a whole read is one piece.
      if (!batch_.empty() && batch_.back().data != nullptr &&
          batch_.back().data + batch_.back().size == bytes.data()) {
        batch_.back().size += bytes.size();
      } else {
        batch_.push_back({bytes.data(), 0, bytes.size()});
      }
    } else {
      if (!batch_.empty() && batch_.back().data == nullptr) {
        batch_.back().size += bytes.size();
      } else {
        batch_.push_back({nullptr, stage_.size(), bytes.size()});
      }
      stage_.insert(stage_.end(), bytes.begin(), bytes.end());
    }
    return true;
  }
  // Behind a backlog (order matters), or to another connection: queue it
  // and write it once the handler's callback has returned.
  c.session.queue(bytes);
  mark_dirty(c);
  return true;
}

bool Worker::flush_batch(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  if (batch_.empty()) return true;
  // A member reused across reads: no allocation on the hot path.
  std::vector<std::span<const std::byte>>& spans = spans_;
  spans.clear();
  for (const Piece& p : batch_) {
    spans.emplace_back(p.data != nullptr ? p.data : stage_.data() + p.offset, p.size);
  }
  if (uring()) {
    // The common case, as with write_spans below: the echo of a whole
    // receive is sent straight from its provided buffer, which is held
    // until the send completes. Anything else (behind a backlog or a send
    // in flight, staged bytes, too many buffers held) is copied to the
    // backlog and sent from there.
    if (!uring_send_direct(c, spans)) {
      for (const auto& span : spans) c.session.queue(span);
      uring_flush(c);
    }
    batch_.clear();
    stage_.clear();
    return true;
  }
  // The common case: write straight from the read buffer, in the same
  // wake-up, and copy only what the socket would not take.
  const net::IoResult r = net::write_spans(c.fd.get(), spans);
  if (!r.error.ok()) {
    batch_.clear();
    stage_.clear();
    close_now(slot, r.error.message(), LogLevel::info);
    return false;
  }
  std::size_t left = r.bytes;
  for (const auto& span : spans) {
    const std::size_t took = std::min(left, span.size());
    if (took > 0) wrote(c, {}, span.first(took), took, now);
    c.session.queue(span.subspan(took));
    left -= took;
  }
  batch_.clear();
  stage_.clear();
  return true;
}

void Worker::request_close(Conn& c, std::string_view why) {
  if (c.phase != Phase::open || c.destroying) return;
  begin_close(c, Clock::now(), std::string(why), LogLevel::info);
  mark_dirty(c);
}

void Worker::mark_dirty(Conn& c) {
  if (c.dirty) return;
  c.dirty = true;
  dirty_.emplace_back(c.slot, c.id());
}

void Worker::process_dirty(Clock::time_point now) {
  // Flushing may close a connection, whose on_close may dirty others: take
  // the list as it grows.
  for (std::size_t i = 0; i < dirty_.size(); ++i) {
    const auto [slot, id] = dirty_[i];
    if (slot >= slots_.size() || !slots_[slot] || slots_[slot]->id() != id) continue;
    slots_[slot]->dirty = false;
    if (&*slots_[slot] == batch_conn_) continue;  // Its own read path flushes it.
    if (!flush(slot, now)) continue;
    advance_close(slot, now);
    if (slots_[slot]) settle(slot, now);
  }
  dirty_.clear();
}

bool Worker::flush(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  if (uring()) {
    uring_flush(c);
    return true;
  }
  while (c.session.pending_bytes() > 0) {
    const net::IoResult r = net::write_some(c.fd.get(), c.session.pending());
    if (!r.error.ok()) {
      close_now(slot, r.error.message(), LogLevel::info);
      return false;
    }
    if (r.would_block) break;
    const bool partial = r.bytes < c.session.pending_bytes();
    wrote(c, {}, c.session.pending(), r.bytes, now);
    c.session.mark_written(r.bytes);
    // A short write means the socket buffer is full; the next send() would
    // fail with EAGAIN. Wait for POLLOUT instead.
    if (partial) break;
  }
  return true;
}

void Worker::wrote(Conn& c, std::span<const std::byte> first, std::span<const std::byte> second,
                   std::size_t n, Clock::time_point now) {
  if (n == 0) return;
  const std::size_t from_first = std::min(n, first.size());
  const std::uint64_t frames = c.session.note_written(first.first(from_first)) +
                               c.session.note_written(second.first(n - from_first));
  if (frames > 0) bump(counters_.frames_echoed, frames);
  bump(counters_.bytes_echoed, n);
  c.written += n;
  c.last_activity = now;
  c.last_progress = now;
}

bool Worker::observe_acks(Conn& c, Clock::time_point now, std::size_t& unacked) {
  if (!net::unacked_bytes(c.fd.get(), unacked).ok()) {
    unacked = SIZE_MAX;
    return false;
  }
  // A queued FIN counts as one unacknowledged byte; clamping keeps it from
  // looking like progress or underflowing.
  const std::uint64_t acked = c.written > unacked ? c.written - unacked : 0;
  if (acked <= c.acked) return false;
  c.acked = acked;
  c.last_activity = now;
  c.last_progress = now;
  return true;
}

void Worker::begin_close(Conn& c, Clock::time_point now, const std::string& why, LogLevel level) {
  if (c.phase != Phase::open) return;
  c.phase = Phase::closing;
  c.draining = false;
  c.frame_open = false;
  c.paused = false;
  c.closing_since = now;
  c.last_progress = now;
  log(level, "conn " + c.peer() + " closing: " + why);
}

void Worker::advance_close(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  // io_uring: a send still in flight has bytes to go out before the FIN.
  if (c.phase != Phase::closing || c.session.pending_bytes() > 0 || c.send_inflight) return;
  if (c.peer_eof) {
    // Nothing unread: close() sends a FIN after whatever the kernel still
    // holds for the peer, and no reset.
    close_now(slot, "closed", LogLevel::debug);
    return;
  }
  // The peer may still be sending. close() with unread input sends a reset,
  // and a reset destroys whatever we wrote that the peer has not yet
  // acknowledged. Shut down our write side instead (a FIN after the echoes),
  // discard input, and close once the peer has it all (or gives up on it).
  ::shutdown(c.fd.get(), SHUT_WR);
  c.phase = Phase::linger;
  c.next_check = now;
  settle(slot, now);
}

void Worker::close_now(std::size_t slot, const std::string& why, LogLevel level) {
  Conn& c = *slots_[slot];
  log(level, "conn " + c.peer() + " " + why);
  c.destroying = true;
  // A connection still awaiting its PROXY header was never opened.
  if (c.opened) handler_->on_close(c);
  slot_of_.erase(c.id());
  if (uring()) {
    uring_retire(std::move(slots_[slot]));
  } else {
    poller_->remove(c.fd.get());
    slots_[slot].reset();
  }
  free_slots_.push_back(slot);
  --open_conns_;
  drop(counters_.open);
  shared_.release();
}

Clock::time_point Worker::deadline(const Conn& c) const {
  if (c.phase != Phase::open) {
    auto d =
        std::min(c.last_progress + config_.linger_timeout, c.closing_since + config_.linger_time);
    if (c.phase == Phase::linger) d = std::min(d, c.next_check);
    return d;
  }
  auto d = Clock::time_point::max();
  if (config_.idle_timeout.count() > 0) d = c.last_activity + config_.idle_timeout;
  if (c.frame_open && !c.paused && config_.frame_timeout.count() > 0) {
    d = std::min(d, c.frame_started + config_.frame_timeout);
  }
  if (c.awaiting_proxy && config_.proxy_timeout.count() > 0) d = std::min(d, c.proxy_deadline);
  return d;
}

void Worker::settle(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  const bool paused =
      c.phase == Phase::open && c.session.pending_bytes() + c.held_bytes >= config_.backlog_cap;
  if (paused && !c.paused) {
    c.paused = true;
    c.paused_since = now;
  } else if (!paused && c.paused) {
    c.paused = false;
    // The time spent not reading was the server's doing, not the peer's.
    if (c.frame_open) c.frame_started += now - c.paused_since;
  }
  if (uring()) {
    uring_interest(c);
    uring_flush(c);
    reschedule(slot);
    return;
  }
  const unsigned want = (wants_read(c) ? loop::kRead : loop::kNone) |
                        (c.session.pending_bytes() > 0 ? loop::kWrite : loop::kNone);
  if (want != c.interest) {
    // Only real changes reach the backend: with epoll each is a syscall.
    if (const auto e = poller_->modify(c.fd.get(), token_of(slot, c.id()), want); !e.ok()) {
      close_now(slot, e.message(), LogLevel::error);
      return;
    }
    c.interest = want;
  }
  reschedule(slot);
}

void Worker::reschedule(std::size_t slot) {
  Conn& c = *slots_[slot];
  const auto d = deadline(c);
  // Later deadlines are found lazily when the earlier entry fires, so the
  // common case (activity pushing the idle deadline back) costs nothing.
  if (d < c.scheduled) {
    c.scheduled = d;
    timers_.push({d, slot, c.id()});
  }
}

void Worker::expire_timers(Clock::time_point now) {
  while (!timers_.empty() && timers_.top().when <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    Conn* c = slots_[t.slot].get();
    if (c == nullptr || c->id() != t.id || c->scheduled != t.when) continue;  // Stale.
    c->scheduled = Clock::time_point::max();
    // Before any verdict: a peer that read our echoes since we last looked
    // has been active, though no event told us.
    std::size_t unacked = SIZE_MAX;
    observe_acks(*c, now, unacked);
    if (c->phase == Phase::linger) {
      if (unacked == 0) {
        close_now(t.slot, "closed: every echo delivered", LogLevel::debug);
        continue;
      }
      c->next_check = now + kDeliveryCheck;
    }
    const auto d = deadline(*c);
    if (d > now) {
      c->scheduled = d;
      timers_.push({d, t.slot, c->id()});
      continue;
    }
    if (c->phase != Phase::open) {
      const bool too_long = now >= c->closing_since + config_.linger_time;
      close_now(t.slot,
                too_long ? "closed: still undelivered " + ms_text(config_.linger_time) +
                               " after closing began (--linger-time)"
                         : "closed: peer acknowledged nothing for " +
                               ms_text(config_.linger_timeout) + " while closing",
                LogLevel::info);
    } else if (c->awaiting_proxy && config_.proxy_timeout.count() > 0 && now >= c->proxy_deadline) {
      bump(counters_.timed_out);
      begin_close(*c, now,
                  "PROXY header timeout: no complete header " + ms_text(config_.proxy_timeout) +
                      " after the accept (" + std::to_string(c->proxy.offset()) + " bytes of it)",
                  LogLevel::info);
      advance_close(t.slot, now);
      if (slots_[t.slot]) settle(t.slot, now);
    } else if (c->frame_open && !c->paused && config_.frame_timeout.count() > 0 &&
               now >= c->frame_started + config_.frame_timeout) {
      bump(counters_.timed_out);
      begin_close(*c, now,
                  "frame timeout: frame incomplete " + ms_text(config_.frame_timeout) +
                      " after its first byte (stream offset " +
                      std::to_string(c->session.decoder().offset()) + ")",
                  LogLevel::info);
      advance_close(t.slot, now);
      if (slots_[t.slot]) settle(t.slot, now);
    } else {
      // The graceful close of §6.8, not close(): the peer may still be
      // reading slowly where we cannot see it (a receiver announces a
      // reading only every few segments), and a reset would destroy the
      // echoes already written. If it really stopped reading, the linger
      // gives up after --linger-timeout.
      bump(counters_.timed_out);
      begin_close(*c, now, "idle timeout " + ms_text(config_.idle_timeout) + ": no bytes moved",
                  LogLevel::info);
      advance_close(t.slot, now);
      if (slots_[t.slot]) settle(t.slot, now);
    }
  }
}

}  // namespace framed::server

namespace framed {

using server::Worker;

bool Connection::send(std::span<const std::byte> bytes) {
  auto& c = static_cast<Worker::Conn&>(*this);
  return static_cast<Worker*>(loop_)->send(c, bytes);
}

bool Connection::send_frame(std::span<const std::byte> payload) {
  const auto header = encode_header(static_cast<std::uint32_t>(payload.size()));
  return payload.size() <= 0xFFFFFFFFU && send(header) && send(payload);
}

std::size_t Connection::pending_bytes() const noexcept {
  const auto& c = static_cast<const Worker::Conn&>(*this);
  return c.session.pending_bytes() + c.held_bytes;
}

void Connection::close(std::string_view why) {
  auto& c = static_cast<Worker::Conn&>(*this);
  static_cast<Worker*>(loop_)->request_close(c, why);
}

Connection* Loop::find(std::uint64_t id) noexcept {
  auto& w = static_cast<Worker&>(*this);
  const auto it = w.slot_of_.find(id);
  return it == w.slot_of_.end() ? nullptr : w.slots_[it->second].get();
}

void Loop::for_each(const std::function<void(Connection&)>& f) {
  auto& w = static_cast<Worker&>(*this);
  for (auto& c : w.slots_) {
    // A connection awaiting its PROXY header is not the handler's yet.
    if (c && !c->destroying && c->opened) f(*c);
  }
}

std::size_t Loop::index() const noexcept { return static_cast<const Worker&>(*this).index_; }

}  // namespace framed
