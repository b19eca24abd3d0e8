#include "sim/sim_transport.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <netinet/in.h>

namespace framed::sim {
namespace {

constexpr std::size_t kMaxAcceptsPerWake = 64;
constexpr int kMaxReadsPerWake = 4;

}  // namespace

struct SimTransport::Sock final : transport::Socket {
  SimConn* conn = nullptr;
  bool want_read = false;
  bool closed = false;
  // Readiness as the last poll() found it (as epoll reports it: a snapshot).
  bool ev_read = false;
  bool ev_write = false;
  bool ev_error = false;
};

SimTransport::Sock& SimTransport::of(transport::Socket& s) noexcept {
  return static_cast<Sock&>(s);
}

void SimTransport::for_each_open(
    const std::function<void(const transport::Socket&, const SimConn&)>& f) const {
  for (const auto& s : socks_) f(*s, *s->conn);
}

void SimTransport::note_fin(Sock& s) {
  SimConn& c = *s.conn;
  if (c.consumed_at_fin != UINT64_MAX) return;
  c.handed_at_fin = std::min(c.handed_at_fin, c.handed);
  c.consumed_at_fin = consumed_of_ && s.owner != nullptr ? consumed_of_(s) : 0;
  c.eof_before_fin = c.eof_read;
}

SimTransport::SimTransport(transport::Sink& sink, const loop::Clock& clock, Rng* rng,
                           SimOptions options)
    : sink_(sink), clock_(clock), rng_(rng), options_(options) {}

SimTransport::~SimTransport() = default;

void SimTransport::note(const std::string& what) const {
  if (trace_) trace_(what);
}

bool SimTransport::readable(const Sock& s) const {
  const SimConn& c = *s.conn;
  return s.want_read && (!c.c2s.empty() || c.peer_fin || c.peer_rst);
}

bool SimTransport::writable(const Sock& s) const {
  return !s.out.empty() && s.conn->s2c_send.size() < options_.server_sndbuf;
}

bool SimTransport::ready() const {
  if (woken_) return true;
  if (listening_ && accepting_ && !queue_.empty()) return true;
  return std::any_of(socks_.begin(), socks_.end(), [&](const auto& s) {
    return readable(*s) || writable(*s) || s->conn->peer_rst;
  });
}

net::SysError SimTransport::poll(int /*timeout_ms*/) {
  // Never blocks: the simulation moves the clock itself when nothing is
  // ready (see Simulation::run).
  events_.clear();
  listener_ready_ = listening_ && accepting_ && !queue_.empty();
  for (auto& s : socks_) {
    s->ev_read = readable(*s);
    s->ev_write = writable(*s);
    s->ev_error = s->conn->peer_rst;
    if (s->ev_read || s->ev_write || s->ev_error) events_.push_back(s.get());
  }
  if (rng_ != nullptr) {
    // The kernel promises no order.
    for (std::size_t i = events_.size(); i > 1; --i)
      std::swap(events_[i - 1], events_[rng_->below(i)]);
  }
  return {};
}

void SimTransport::dispatch() {
  if (woken_) {
    woken_ = false;
    sink_.on_wake();
  }
  if (listener_ready_ && listening_ && accepting_) accept_one(kMaxAcceptsPerWake);
  for (Sock* s : events_) {
    if (s->closed) continue;  // Closed earlier in this batch.
    if (s->ev_read || s->ev_error) on_readable(*s);
    if (!s->closed && (s->ev_write || s->ev_error)) sink_.on_writable(*s);
    if (!s->closed) sink_.on_settle(*s);
  }
  events_.clear();
  closed_.clear();
}

void SimTransport::on_readable(Sock& s) {
  SimConn& c = *s.conn;
  std::vector<std::byte> buf;
  for (int i = 0; i < kMaxReadsPerWake && s.want_read && !s.closed; ++i) {
    if (!c.c2s.empty()) {
      std::size_t n = std::min(c.c2s.size(), options_.read_chunk);
      if (rng_ != nullptr && rng_->chance(0.5)) n = static_cast<std::size_t>(rng_->range(1, n));
      buf.assign(c.c2s.begin(), c.c2s.begin() + static_cast<std::ptrdiff_t>(n));
      c.c2s.erase(c.c2s.begin(), c.c2s.begin() + static_cast<std::ptrdiff_t>(n));
      c.handed += n;
      c.reads.emplace_back(now(), c.handed);
      c.last_moved = now();
      note("conn " + std::to_string(c.id) + " server reads " + std::to_string(n));
      if (sink_.on_input(s, buf) == transport::Flow::stop) return;
      if (n < options_.read_chunk) return;  // As the real transport: drained.
      continue;
    }
    if (c.peer_rst) {
      note("conn " + std::to_string(c.id) + " server read: reset");
      sink_.on_error(s, {"read", ECONNRESET});
      return;
    }
    if (c.peer_fin) {
      c.eof_read = true;
      note("conn " + std::to_string(c.id) + " server reads EOF");
      sink_.on_eof(s);
      return;
    }
    return;  // EAGAIN.
  }
}

std::size_t SimTransport::write_some(SimConn& c, std::span<const std::byte> bytes) {
  const std::size_t space =
      options_.server_sndbuf > c.s2c_send.size() ? options_.server_sndbuf - c.s2c_send.size() : 0;
  std::size_t n = std::min(space, bytes.size());
  if (rng_ != nullptr && n > 0) {
    if (rng_->chance(options_.spurious_eagain)) return 0;
    if (rng_->chance(options_.short_write)) n = static_cast<std::size_t>(rng_->range(1, n));
  }
  if (n == 0) return 0;
  if (c.s2c_send.empty()) c.last_ack = now();  // Progress starts from here.
  c.s2c_send.insert(c.s2c_send.end(), bytes.begin(),
                    bytes.begin() + static_cast<std::ptrdiff_t>(n));
  c.written += n;
  c.last_progress_seen = now();
  c.last_moved = now();
  for (auto rest = bytes.first(n); !rest.empty();) {
    const DecodeResult r = c.written_frames.feed(rest);
    rest = rest.subspan(r.consumed);
    if (r.status == DecodeStatus::chunk && r.frame_end) ++c.frames_written;
    if (r.status != DecodeStatus::chunk) break;
  }
  return n;
}

transport::Wrote SimTransport::send(transport::Socket& socket,
                                    std::span<const std::span<const std::byte>> spans) {
  Sock& s = of(socket);
  SimConn& c = *s.conn;
  transport::Wrote w;
  if (c.peer_rst) {
    w.error = {"sendmsg", EPIPE};
    return w;
  }
  bool short_write = false;
  for (const auto& span : spans) {
    std::size_t took = 0;
    if (!short_write) {
      took = write_some(c, span);
      short_write = took < span.size();
    }
    if (took > 0) w.frames += s.out.note_written(span.first(took));
    w.bytes += took;
    s.out.queue(span.subspan(took));
  }
  if (w.bytes > 0)
    note("conn " + std::to_string(c.id) + " server writes " + std::to_string(w.bytes));
  return w;
}

transport::Wrote SimTransport::flush(transport::Socket& socket) {
  Sock& s = of(socket);
  SimConn& c = *s.conn;
  transport::Wrote w;
  while (!s.out.empty()) {
    if (c.peer_rst) {
      w.error = {"sendmsg", EPIPE};
      return w;
    }
    const auto pending = s.out.pending();
    const std::size_t n = write_some(c, pending);
    if (n == 0) break;
    w.bytes += n;
    w.frames += s.out.mark_written(n);
    if (n < pending.size()) break;
  }
  if (w.bytes > 0)
    note("conn " + std::to_string(c.id) + " server flushes " + std::to_string(w.bytes));
  return w;
}

void SimTransport::shutdown_write(transport::Socket& socket) {
  SimConn& c = *of(socket).conn;
  if (c.server_fin) return;
  note_fin(of(socket));
  c.server_fin = true;
  c.server_fin_at = now();
  note("conn " + std::to_string(c.id) + " server shuts down its write side");
}

bool SimTransport::unacked(transport::Socket& socket, std::size_t& out) {
  const SimConn& c = *of(socket).conn;
  if (rng_ != nullptr && rng_->chance(options_.unacked_unknown)) return false;
  out = c.s2c_send.size() + (c.server_fin && !c.fin_delivered ? 1 : 0);
  SimConn& seen = *of(socket).conn;
  const std::uint64_t acked = seen.written > out ? seen.written - out : 0;
  if (acked > seen.acked_seen) {
    seen.acked_seen = acked;
    seen.last_progress_seen = now();
    seen.last_moved = now();
  }
  return true;
}

net::SysError SimTransport::set_listener(net::UniqueFd /*listener*/) {
  listening_ = true;
  return {};
}

net::SysError SimTransport::open(transport::Socket& socket) {
  of(socket).want_read = true;
  of(socket).conn->opened = true;
  of(socket).conn->wants.emplace_back(now(), true);
  return {};
}

net::SysError SimTransport::update(transport::Socket& socket, bool want_read) {
  Sock& s = of(socket);
  if (s.want_read != want_read) s.conn->wants.emplace_back(now(), want_read);
  s.want_read = want_read;
  return {};
}

void SimTransport::close(transport::Socket& socket) {
  Sock& s = of(socket);
  if (s.closed) return;
  note_fin(s);
  s.closed = true;
  s.owner = nullptr;
  SimConn& c = *s.conn;
  c.server_closed = true;
  c.closed_at = now();
  c.socket = nullptr;
  if (!c.opened) ++refused_;
  --open_;
  note("conn " + std::to_string(c.id) + " server closes");
  // close() with unread input: the kernel answers with a reset, which
  // destroys the send queue too.
  const bool resets = !c.c2s.empty() && !c.peer_rst && !c.server_rst;
  c.abandoned = s.out.size() + s.held + (resets ? c.s2c_send.size() : 0);
  if (close_hook_) close_hook_(c);
  if (resets) {
    ResetHook hook;
    hook.swap(reset_hook_);  // Counted in `abandoned` already.
    reset_by_server(c, "closed with " + std::to_string(c.c2s.size()) + " unread byte(s)");
    hook.swap(reset_hook_);
  } else if (!c.server_fin) {
    c.server_fin = true;  // close() sends a FIN after the send queue.
    c.server_fin_at = now();
  }
  const auto it =
      std::find_if(socks_.begin(), socks_.end(), [&](const auto& p) { return p.get() == &s; });
  if (it != socks_.end()) {
    closed_.push_back(std::move(*it));
    socks_.erase(it);
  }
}

void SimTransport::reset_by_server(SimConn& c, const std::string& why) {
  if (c.server_rst || c.peer_rst) return;
  c.server_rst = true;
  c.lost_to_reset = c.s2c_send.size();
  c.s2c_send.clear();
  c.c2s.clear();
  c.close_note = why;
  note("conn " + std::to_string(c.id) + " reset by the server (" + why + "), " +
       std::to_string(c.lost_to_reset) + " unacknowledged byte(s) lost");
  if (reset_hook_) reset_hook_(c);
}

std::size_t SimTransport::accept_one(std::size_t budget) {
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < budget && listening_; ++i) {
    if (!accept_errors_.empty()) {
      const int err = accept_errors_.front();
      accept_errors_.erase(accept_errors_.begin());
      if (err == ECONNABORTED || err == EINTR || err == EPROTO) continue;
      sink_.on_accept_error({"accept4", err});
      break;
    }
    if (queue_.empty()) break;
    const std::size_t id = queue_.front();
    queue_.pop_front();
    SimConn& c = *conns_[id];
    c.phase = SimConn::Phase::accepted;
    c.accepted_at = now();
    c.last_moved = now();
    auto sock = std::make_unique<Sock>();
    sock->conn = &c;
    c.socket = sock.get();
    Sock& s = *sock;
    socks_.push_back(std::move(sock));
    ++open_;
    ++accepted;
    note("conn " + std::to_string(id) + " accepted");
    sink_.on_accepted(s, c.peer);
    if (rng_ != nullptr && rng_->chance(options_.arrival_during_accept)) (void)connect();
  }
  return accepted;
}

std::size_t SimTransport::accept_queued(std::size_t max) { return accept_one(max); }

bool SimTransport::shed_one() {
  if (queue_.empty()) return false;
  const std::size_t id = queue_.front();
  queue_.pop_front();
  SimConn& c = *conns_[id];
  c.phase = SimConn::Phase::accepted;
  c.server_closed = true;
  c.closed_at = now();
  c.handed_at_fin = 0;
  c.consumed_at_fin = 0;
  ++shed_;
  note("conn " + std::to_string(id) + " shed (accepted and closed at once)");
  if (!c.c2s.empty()) {
    reset_by_server(c, "shed with unread input");
  } else {
    c.server_fin = true;
    c.server_fin_at = now();
  }
  return true;
}

void SimTransport::close_listener() {
  if (!listening_) return;
  // The storm does not pause for the close: a client may complete its
  // handshake in the instant before it (unless the listener is sealed).
  if (rng_ != nullptr && rng_->chance(options_.arrival_during_accept)) (void)connect();
  listening_ = false;
  accepting_ = false;
  note("listener closed with " + std::to_string(queue_.size()) + " queued");
  if (!queue_.empty() && queue_reset_hook_) queue_reset_hook_(queue_.size());
  for (const std::size_t id : queue_) {
    SimConn& c = *conns_[id];
    c.phase = SimConn::Phase::accepted;  // Completed, then reset unserved.
    c.server_closed = true;
    c.handed_at_fin = 0;
    c.consumed_at_fin = 0;
    reset_by_server(c, "listener closed with the connection queued");
    c.server_rst = true;
  }
  queue_.clear();
}

std::size_t SimTransport::connect() {
  auto c = std::make_unique<SimConn>();
  c->id = conns_.size();
  auto* sin = reinterpret_cast<sockaddr_in*>(&c->peer.addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(0x7F000001U);
  sin->sin_port = htons(static_cast<std::uint16_t>(20000 + c->id % 40000));
  c->peer.len = sizeof(sockaddr_in);
  const std::size_t id = c->id;
  conns_.push_back(std::move(c));
  retry(id);
  return id;
}

std::size_t SimTransport::connect(const net::Endpoint& from) {
  auto c = std::make_unique<SimConn>();
  c->id = conns_.size();
  c->peer = from;
  const std::size_t id = c->id;
  conns_.push_back(std::move(c));
  retry(id);
  return id;
}

void SimTransport::retry(std::size_t id) {
  SimConn& c = *conns_[id];
  if (c.phase != SimConn::Phase::no_answer) return;
  if (!listening_) {
    c.phase = SimConn::Phase::refused;
    note("conn " + std::to_string(id) + " refused");
  } else if (sealed_) {
    note("conn " + std::to_string(id) + " no answer (listener sealed)");
  } else if (queue_.size() < options_.backlog) {
    c.phase = SimConn::Phase::queued;
    queue_.push_back(id);
    note("conn " + std::to_string(id) + " queued");
  }
}

std::size_t SimTransport::peer_send(std::size_t id, std::span<const std::byte> bytes) {
  SimConn& c = *conns_[id];
  if (c.peer_fin || c.peer_rst || c.server_rst || bytes.empty()) return 0;
  if (c.phase != SimConn::Phase::queued && c.phase != SimConn::Phase::accepted) return 0;
  if (c.server_closed) {
    // Input for a closed socket: the kernel answers with a reset.
    reset_by_server(c, "input after the close");
    return 0;
  }
  const std::size_t space =
      options_.server_rcvbuf > c.c2s.size() ? options_.server_rcvbuf - c.c2s.size() : 0;
  const std::size_t n = std::min(space, bytes.size());
  c.c2s.insert(c.c2s.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  c.sent_by_peer += n;
  if (n > 0) note("conn " + std::to_string(id) + " peer sends " + std::to_string(n));
  return n;
}

std::size_t SimTransport::peer_recv(std::size_t id, std::vector<std::byte>& into, std::size_t max) {
  SimConn& c = *conns_[id];
  const std::size_t n = std::min(max, c.s2c_recv.size());
  into.insert(into.end(), c.s2c_recv.begin(), c.s2c_recv.begin() + static_cast<std::ptrdiff_t>(n));
  c.s2c_recv.erase(c.s2c_recv.begin(), c.s2c_recv.begin() + static_cast<std::ptrdiff_t>(n));
  if (n > 0) note("conn " + std::to_string(id) + " peer receives " + std::to_string(n));
  return n;
}

void SimTransport::peer_shutdown(std::size_t id) {
  SimConn& c = *conns_[id];
  if (c.peer_fin || c.peer_rst) return;
  c.peer_fin = true;
  note("conn " + std::to_string(id) + " peer shuts down its write side");
}

void SimTransport::peer_reset(std::size_t id) {
  SimConn& c = *conns_[id];
  if (c.peer_rst || c.server_rst) return;
  c.peer_rst = true;
  c.s2c_send.clear();
  c.s2c_recv.clear();
  note("conn " + std::to_string(id) + " peer resets");
  if (c.phase == SimConn::Phase::queued) {
    // A queued connection that resets is dropped by the kernel... still
    // accepted later, and its first read reports the reset.
  }
}

void SimTransport::deliver(std::size_t id, std::size_t max) {
  SimConn& c = *conns_[id];
  if (c.server_rst || c.peer_rst) return;
  const std::size_t space =
      options_.peer_rcvbuf > c.s2c_recv.size() ? options_.peer_rcvbuf - c.s2c_recv.size() : 0;
  const std::size_t n = std::min({max, space, c.s2c_send.size()});
  if (n > 0) {
    c.s2c_recv.insert(c.s2c_recv.end(), c.s2c_send.begin(),
                      c.s2c_send.begin() + static_cast<std::ptrdiff_t>(n));
    c.s2c_send.erase(c.s2c_send.begin(), c.s2c_send.begin() + static_cast<std::ptrdiff_t>(n));
    c.last_ack = now();
  }
  if (c.s2c_send.empty() && c.server_fin && !c.fin_delivered) {
    c.fin_delivered = true;
    c.fin_delivered_at = now();
    c.last_ack = now();
  }
}

bool SimTransport::peer_at_end(std::size_t id) const {
  const SimConn& c = *conns_[id];
  if (c.phase == SimConn::Phase::refused) return true;
  return c.s2c_recv.empty() && (c.server_rst || c.fin_delivered || c.peer_rst);
}

}  // namespace framed::sim
