#include "core/conn.h"

#include <cerrno>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "core/acceptor.h"
#include "core/conn_table.h"
#include "framed/encoder.h"
#include "net/proxy_text.h"
#include "util/buggify.h"

namespace framed::core {
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

}  // namespace

std::string_view to_string(State s) noexcept {
  switch (s) {
    case State::handshake: return "handshake";
    case State::proxy_header: return "proxy_header";
    case State::open: return "open";
    case State::draining: return "draining";
    case State::closing: return "closing";
    case State::lingering: return "lingering";
    case State::closed: return "closed";
  }
  return "?";
}

Conn::Conn(Context& ctx, transport::Socket& socket, std::uint64_t id, std::size_t slot,
           std::string peer, std::unique_ptr<Handler> own)
    : Connection(id, std::move(peer), &ctx.api),
      ctx_(ctx),
      own_handler_(std::move(own)),
      handler_(own_handler_ ? own_handler_.get() : ctx.handler),
      socket_(&socket),
      slot_(slot),
      session_(ctx.config.max_frame) {
  socket.owner = this;
  backlog_cap_ = ctx.config.backlog_cap;
  timer_ = ctx_.loop.timers().add([this] { on_deadline(); });
  last_activity_ = now();
  last_progress_ = now();
}

Conn::~Conn() { ctx_.loop.timers().remove(timer_); }

void Conn::start(bool outbound) {
  if (util::log_enabled(LogLevel::debug)) {
    log(LogLevel::debug, "conn " + peer() + (outbound ? " connected" : " accepted"),
        event(outbound ? "connected" : "accepted"));
  }
  if (ctx_.shutting_down) {
    begin_close(CloseReason::drain, "server shutting down", LogLevel::debug);
  } else if (ctx_.config.proxy_protocol && !outbound) {
    // With TLS too, the header comes first, in plain text (the TLS layer
    // lets it through); the handshake follows.
    state_ = State::proxy_header;
    proxy_deadline_ = now() + ctx_.config.proxy_timeout;
    handshake_deadline_ = now() + ctx_.config.tls.handshake_timeout;
  } else if (socket_->handshaking) {
    state_ = State::handshake;
    handshake_deadline_ = now() + ctx_.config.tls.handshake_timeout;
  } else {
    open_to_handler();
  }
  advance_close();
  process_dirty(ctx_);
  if (state_ != State::closed) settle();
}

bool Conn::wants_read() const noexcept {
  if (peer_eof_) return false;
  if (state_ == State::lingering) return true;
  // Held open past the end of its input (EOF, the drain, a protocol
  // error) for output still owed.
  if (input_over_) return false;
  // Backpressure: a client that does not read its echoes stops being read,
  // and so does one whose input waits, read but not yet delivered.
  return open_phase() && unread_.empty() && may_deliver();
}

transport::Flow Conn::on_input(std::span<const std::byte> got) {
  last_activity_ = now();
  bump(ctx_.counters.bytes_received, got.size());
  // Input follows the handshake at once when the client's first data
  // came with its last handshake message.
  check_secured();
  // Lingering input is discarded on purpose. (A completion transport may
  // also deliver bytes received just before a close began: they are never
  // echoed, exactly as a readiness transport would never have read them.)
  if (!open_phase()) return transport::Flow::more;
  if (input_over_) return transport::Flow::stop;  // Discarded, as while closing.
  if (!unread_.empty() || !may_deliver()) {
    // Behind input kept back, or while delivery is held (the handler paused
    // this input from elsewhere, or the output reached the cap) when a
    // completion transport's receive was already under way: kept, in
    // order, for resume_input().
    unread_.insert(unread_.end(), got.begin(), got.end());
    return transport::Flow::stop;
  }
  return take_input(got);
}

transport::Flow Conn::take_input(std::span<const std::byte> got) {
  if (input_over_) return transport::Flow::stop;
  if (state_ == State::proxy_header) {
    if (!read_proxy_header(got)) return transport::Flow::stop;
    // The header took the whole read (or is still incomplete).
    if (got.empty()) return transport::Flow::more;
  }
  const auto frames_before = session_.frames_done();
  // Fault point: as if the read had returned half as much (the rest waits
  // as unread input, as after backpressure).
  const auto part = got.size() > 1 && FRAMED_BUGGIFY(0.1) ? got.first(got.size() / 2) : got;
  const auto used = deliver(part);
  if (!flush_batch()) return transport::Flow::stop;
  if (!open_phase()) return transport::Flow::stop;  // The handler closed it.
  if (used.error == DecodeError::none && used.bytes < got.size() &&
      !(state_ == State::draining && !session_.in_frame())) {
    // Stopped at the backlog cap: keep the rest for when the peer has
    // taken enough (resume_input). Reading stops meanwhile.
    // In front of what waits already (resume_input() hands out a read's
    // worth at a time), in order.
    unread_.insert(unread_.begin(), got.begin() + static_cast<std::ptrdiff_t>(used.bytes),
                   got.end());
  }
  if (used.error != DecodeError::none) {
    bump(ctx_.counters.protocol_errors);
    const auto length = session_.decoder().frame_length();
    // Held, the replies still owed to the frames before it go out first.
    end_input_close(CloseReason::oversize,
                "protocol error: " + std::string(framed::to_string(used.error)) + " (length " +
                    std::to_string(length) + " > limit " + std::to_string(ctx_.config.max_frame) +
                    ", header " + hex_header(length) + ") at stream offset " +
                    std::to_string(session_.decoder().error_offset()),
                LogLevel::warn);
    return transport::Flow::stop;
  }
  if (state_ == State::draining && !session_.in_frame()) {
    end_input_close(CloseReason::drain, "server shutting down (frame in progress finished)",
                    LogLevel::debug);
    return transport::Flow::stop;
  }
  // The frame timer runs from the first byte of the frame now in progress;
  // a frame that ended and another that began in this read restart it.
  if (!session_.in_frame()) {
    frame_open_ = false;
  } else if (!frame_open_ || session_.frames_done() != frames_before) {
    frame_open_ = true;
    frame_started_ = now();
  }
  return wants_read() ? transport::Flow::more : transport::Flow::stop;
}

void Conn::on_eof() {
  peer_eof_ = true;
  if (!unread_.empty() && open_phase()) {
    eof_deferred_ = true;  // Delivered after the input it follows.
    return;
  }
  if (state_ == State::lingering) {
    close_now(CloseReason::none, "closed: peer sent EOF while lingering", LogLevel::debug);
    return;
  }
  if (state_ == State::handshake) {
    begin_close(CloseReason::eof, "peer closed during the TLS handshake", LogLevel::info);
    return;
  }
  if (state_ == State::proxy_header) {
    // No handler has seen this connection: nothing to tell it. A peer
    // that sends nothing at all (a plain TCP check) is not an error.
    const ProxyError e = proxy_.finish();
    if (e == ProxyError::none) {
      begin_close(CloseReason::eof, "peer closed before a PROXY header", LogLevel::debug);
    } else {
      begin_close(CloseReason::truncated,
                  "peer closed mid PROXY header (" + std::string(framed::to_string(e)) +
                      " at offset " + std::to_string(proxy_.error_offset()) + ")",
                  LogLevel::info);
    }
    return;
  }
  // The handler learns of the end, with the header bytes held back while
  // they could still turn out oversize (an echo sends them: the echo
  // stops exactly where the input stopped).
  if (open_phase()) {
    ctx_.batch.conn = this;
    ctx_.batch.input = {};
    handler_->on_end_of_input(*this, session_.end_of_input());
    ctx_.batch.conn = nullptr;
    if (!flush_batch()) return;
  }
  const std::uint64_t at = session_.decoder().offset();
  if (session_.in_frame()) {
    end_input_close(CloseReason::truncated,
                    "peer closed mid-frame at stream offset " + std::to_string(at),
                    LogLevel::info);
  } else {
    end_input_close(CloseReason::eof, "peer closed", LogLevel::debug);
  }
}

void Conn::on_error(const net::SysError& error) {
  if (state_ == State::handshake && reason_of(error) == CloseReason::tls) {
    bump(ctx_.counters.refused);
    bump(ctx_.counters.refused_tls);
  }
  close_now(reason_of(error), error.message(), LogLevel::info);
}

void Conn::on_writable() {
  if (!flush()) return;
  advance_close();
}

void Conn::on_sent(std::size_t bytes, std::uint64_t frames) {
  wrote(bytes, frames);
  advance_close();
}

void Conn::on_settle() {
  check_secured();
  if (state_ == State::closing || state_ == State::lingering) {
    if (!flush()) return;
    advance_close();
  }
  if (state_ != State::closed) settle();
}

bool Conn::read_proxy_header(std::span<const std::byte>& got) {
  const ProxyResult r = proxy_.feed(got);
  // Bytes after the header in this read belong to the frame stream.
  got = got.subspan(r.consumed);
  if (r.status == ProxyStatus::need_more) return true;
  if (r.status == ProxyStatus::error) {
    bump(ctx_.counters.protocol_errors);
    begin_close(CloseReason::proxy_error,
                "bad PROXY header: " + std::string(framed::to_string(proxy_.error())) +
                    " at offset " + std::to_string(proxy_.error_offset()),
                LogLevel::warn);
    return false;
  }
  const ProxyHeader& h = proxy_.header();
  if (h.has_addresses()) {
    // From here on the connection is the client's: every log line, and the
    // handler through Connection::peer(), names the address the proxy saw.
    const std::string client = net::address_text(h.family, h.source);
    log(LogLevel::debug, "conn " + client + " via proxy " + peer() + " (" + net::describe(h) + ")");
    set_peer(client);
    IpKey key;
    if (ctx_.limit.per_ip().enabled() && IpKey::of(h, key)) {
      // Counted by the client the header names, not by the proxy.
      if (!admit_client(ctx_, key, client)) {
        begin_close(CloseReason::per_ip, "refused: over --max-conns-per-ip", LogLevel::debug);
        return false;
      }
      client_ = key;
    }
  } else {
    // LOCAL (the proxy's own health check) or an address-less family: the
    // real endpoints stand, and this is no error.
    log(LogLevel::debug, "conn " + peer() + " " + net::describe(h) + ": real address kept");
  }
  if (socket_->handshaking) {
    // TLS after the header: the handler waits for the handshake.
    state_ = State::handshake;
    return true;
  }
  state_ = State::open;
  open_to_handler();
  return open_phase();
}

void Conn::check_secured() {
  if (state_ == State::handshake && !socket_->handshaking) {
    std::string subject;
    std::vector<std::string> names;
    if (ctx_.io.peer_certificate(*socket_, subject, names)) {
      log(LogLevel::debug, "conn " + peer() + " TLS handshake done, client " + subject);
      set_peer_certificate(std::move(subject), std::move(names));
    } else {
      log(LogLevel::debug, "conn " + peer() + " TLS handshake done");
    }
    open_to_handler();
  }
}

void Conn::open_to_handler() {
  state_ = State::open;
  opened_ = true;
  handler_->on_open(*this);
}

Session::Consumed Conn::deliver(std::span<const std::byte> got) {
  Batch& batch = ctx_.batch;
  batch.conn = this;
  batch.input = got;
  Handler& handler = *handler_;
  const bool stop_at_frame_end = state_ == State::draining;
  // After each callback: go on only while the output owed (the batch
  // included) is under the cap, whatever the handler sends, and the
  // handler has not paused its input.
  Session::Consumed used;
  Counters& counters = ctx_.counters;
  // A frame whose last byte is in: counted, and its size binned (the
  // owner's relaxed stores: no locked instruction per frame).
  const auto received = [this, &counters](const Chunk& chunk) {
    if (!chunk.last) return;
    note_arrival();
    bump(counters.frames_received);
    bump(counters.payload_bytes_received, chunk.frame_length);
    bump(counters.frame_sizes[frame_size_bucket(chunk.frame_length)]);
  };
  if (handler.delivery() == Delivery::chunks) {
    used = session_.read(got, stop_at_frame_end, [&](const Chunk& chunk) {
      if (!open_phase()) return false;
      received(chunk);
      handler.on_chunk(*this, chunk);
      return may_deliver();
    });
  } else {
    used = session_.read(got, stop_at_frame_end, [&](const Chunk& chunk) {
      if (!open_phase()) return false;
      received(chunk);
      if (chunk.first && chunk.last) {
        handler.on_frame(*this, chunk.payload);  // Whole in this read: no copy.
        return may_deliver();
      }
      // Grows with the bytes that arrive, never with the announced length.
      if (chunk.first) frame_buf_.clear();
      frame_buf_.insert(frame_buf_.end(), chunk.payload.begin(), chunk.payload.end());
      if (chunk.last) {
        handler.on_frame(*this, frame_buf_);
        frame_buf_.clear();
        if (frame_buf_.capacity() > (1U << 20U)) frame_buf_.shrink_to_fit();
      }
      return may_deliver();
    });
  }
  batch.conn = nullptr;
  batch.input = {};
  return used;
}

bool Conn::send(std::span<const std::byte> bytes) {
  if (!open_phase() || destroying_) return false;
  if (bytes.empty()) return true;
  Batch& batch = ctx_.batch;
  if (batch.conn == this && socket_->out.empty()) {
    const bool in_input = !batch.input.empty() && bytes.data() >= batch.input.data() &&
                          bytes.data() + bytes.size() <= batch.input.data() + batch.input.size();
    if (in_input) {
      // Adjacent views merge: an echo of a whole read is one piece.
      if (!batch.pieces.empty() && batch.pieces.back().data != nullptr &&
          batch.pieces.back().data + batch.pieces.back().size == bytes.data()) {
        batch.pieces.back().size += bytes.size();
      } else {
        batch.pieces.push_back({bytes.data(), 0, bytes.size()});
      }
    } else {
      if (!batch.pieces.empty() && batch.pieces.back().data == nullptr) {
        batch.pieces.back().size += bytes.size();
      } else {
        batch.pieces.push_back({nullptr, batch.stage.size(), bytes.size()});
      }
      batch.stage.insert(batch.stage.end(), bytes.begin(), bytes.end());
    }
    batch.bytes += bytes.size();
    note_output();
    return true;
  }
  // Behind a backlog (order matters), or to another connection: queue it
  // and write it once the handler's callback has returned.
  ctx_.io.queue(*socket_, bytes);
  note_output();
  mark_dirty();
  return true;
}

std::size_t Conn::pending_bytes() const noexcept {
  if (socket_ == nullptr) return 0;
  // While this connection's input is delivered, what the handler sent is
  // gathered in the batch: it is owed all the same.
  return socket_->pending() + (ctx_.batch.conn == this ? ctx_.batch.bytes : 0);
}

bool Conn::flush_batch() {
  Batch& batch = ctx_.batch;
  if (batch.pieces.empty()) return true;
  batch.spans.clear();
  for (const Batch::Piece& p : batch.pieces) {
    batch.spans.emplace_back(p.data != nullptr ? p.data : batch.stage.data() + p.offset, p.size);
  }
  const transport::Wrote w = ctx_.io.send(*socket_, batch.spans);
  batch.clear();
  if (!w.error.ok()) {
    close_now(reason_of(w.error), w.error.message(), LogLevel::info);
    return false;
  }
  wrote(w.bytes, w.frames);
  return true;
}

bool Conn::flush() {
  const transport::Wrote w = ctx_.io.flush(*socket_);
  if (!w.error.ok()) {
    close_now(reason_of(w.error), w.error.message(), LogLevel::info);
    return false;
  }
  wrote(w.bytes, w.frames);
  return true;
}

void Conn::wrote(std::size_t bytes, std::uint64_t frames) {
  if (bytes == 0) return;
  if (frames > 0) {
    bump(ctx_.counters.frames_echoed, frames);
    note_replies(frames);
  }
  bump(ctx_.counters.bytes_echoed, bytes);
  written_ += bytes;
  last_activity_ = now();
  last_progress_ = now();
}

void Conn::request_close(std::string_view why) {
  if (!open_phase() || destroying_) return;
  begin_close(CloseReason::handler, std::string(why), LogLevel::info);
  mark_dirty();
}

void Conn::set_backlog_cap(std::size_t bytes) {
  if (backlog_cap_ == bytes) return;
  backlog_cap_ = bytes;
  mark_dirty();  // Reading may resume (or stop) at the next settle.
}

void Conn::set_held(bool held) {
  if (held_ == held) return;
  held_ = held;
  if (held || deferred_.reason == CloseReason::none || !open_phase() || destroying_) return;
  const Deferred d = std::exchange(deferred_, Deferred{});
  begin_close(d.reason, d.why, d.level);
  mark_dirty();
}

void Conn::mark_dirty() {
  if (dirty_) return;
  dirty_ = true;
  ctx_.dirty.push_back(this);
}

void Conn::process_dirty(Context& ctx) {
  // Flushing may close a connection, whose on_close may dirty others: take
  // the list as it grows. A closed connection stays allocated until the
  // end of the loop's turn, so its pointer here is still good.
  for (std::size_t i = 0; i < ctx.dirty.size(); ++i) {
    Conn& c = *ctx.dirty[i];
    if (c.state_ == State::closed) continue;
    c.dirty_ = false;
    if (&c == ctx.batch.conn) continue;  // Its own input path flushes it.
    if (!c.flush()) continue;
    c.advance_close();
    if (c.state_ != State::closed) c.settle();
  }
  ctx.dirty.clear();
}

void Conn::observe_acks(std::size_t& unacked) {
  if (!ctx_.io.unacked(*socket_, unacked)) {
    unacked = SIZE_MAX;
    return;
  }
  // A queued FIN counts as one unacknowledged byte; clamping keeps it from
  // looking like progress or underflowing.
  const std::uint64_t acked = written_ > unacked ? written_ - unacked : 0;
  if (acked <= acked_) return;
  acked_ = acked;
  last_activity_ = now();
  last_progress_ = now();
}

void Conn::resume_input() {
  if (resuming_ || ctx_.batch.conn != nullptr) return;
  resuming_ = true;
  // A read's worth at a time: a completion transport may have appended a
  // second receive, and one callback must never see more than a read, or
  // its echo could pass the cap by more than one read.
  const std::size_t piece = ctx_.config.read_chunk;
  std::vector<std::byte> input;
  while (!unread_.empty() && open_phase() && !input_over_ && may_deliver()) {
    if (unread_.size() <= piece) {
      input.swap(unread_);
      unread_.clear();
    } else {
      input.assign(unread_.begin(), unread_.begin() + static_cast<std::ptrdiff_t>(piece));
      unread_.erase(unread_.begin(), unread_.begin() + static_cast<std::ptrdiff_t>(piece));
    }
    (void)take_input(input);
    input.clear();
  }
  resuming_ = false;
  if (eof_deferred_ && unread_.empty() && state_ != State::closed) {
    eof_deferred_ = false;
    on_eof();
  }
}

void Conn::track_pause() {
  const bool paused = open_phase() && !may_deliver();
  if (paused && !paused_) {
    paused_ = true;
    paused_since_ = now();
  } else if (!paused && paused_) {
    paused_ = false;
    // The time spent not reading was the server's doing, not the peer's.
    if (frame_open_) frame_started_ += now() - paused_since_;
  }
}

bool Conn::notify_drain() {
  if (!above_high_ || pending_bytes() > ctx_.config.low_water) return true;
  above_high_ = false;
  if (open_phase() && opened_ && !destroying_) handler_->on_drain(*this);
  return state_ != State::closed;
}

void Conn::set_reading_paused(bool paused) {
  if (reading_paused_ == paused || !open_phase()) return;
  reading_paused_ = paused;
  // Settled (interest, kept-back input) once the callback returns.
  mark_dirty();
}

void Conn::settle() {
  // Once per batch of events, not per frame: the gauge is as fresh as the
  // last turn.
  report_pending();
  if (!notify_drain()) return;
  if (!unread_.empty() || eof_deferred_) {
    // The pause ends before the input kept back is delivered: a frame that
    // begins in it is not credited with a pause that preceded it.
    track_pause();
    resume_input();
    if (state_ == State::closed) return;
  }
  track_pause();
  auto e = ctx_.io.update(*socket_, wants_read());
  if (FRAMED_BUGGIFY(0.001)) e = {"epoll_ctl", ENOMEM};  // Fault point: the backend refuses.
  if (!e.ok()) {
    close_now(CloseReason::io_error, e.message(), LogLevel::error);
    return;
  }
  ctx_.loop.timers().schedule(timer_, next_deadline().when);
}

}  // namespace framed::core
