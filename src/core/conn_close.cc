// How a connection ends (Conn's closing half; conn.cc has its input and
// output): the close begun for a reason, the flush, the FIN, the linger
// until the peer has everything, the close itself; the drain; and every
// deadline, computed in one place (next_deadline) and acted on in one
// (on_deadline).
#include <cerrno>

#include <algorithm>
#include <string>

#include "core/conn.h"
#include "core/conn_table.h"
#include "util/buggify.h"

namespace framed::core {
namespace {

using util::log;
using util::LogLevel;

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// While lingering, how often to ask the kernel whether the peer has
// everything: acknowledgements raise no event we could wait for.
constexpr std::chrono::milliseconds kDeliveryCheck{100};

}  // namespace

void Conn::begin_close(CloseReason reason, const std::string& why, LogLevel level) {
  if (!open_phase()) return;
  if (reason_ == CloseReason::none) reason_ = reason;
  state_ = State::closing;
  frame_open_ = false;
  paused_ = false;
  unread_.clear();  // Input is no longer delivered; peer_eof_ holds an EOF.
  eof_deferred_ = false;
  closing_since_ = now();
  last_progress_ = now();
  if (util::log_enabled(level)) {
    log(level, "conn " + peer() + " closing: " + why,
        event("closing").text("reason", to_string(reason_)).text("why", why));
  }
}

void Conn::advance_close() {
  if (state_ != State::closing) return;
  if (!output_ended_) {
    // A layer's own end (TLS close_notify) goes out after everything owed,
    // and before the FIN. Not in begin_close(): a handler that replies and
    // closes in one callback has its reply still in the batch there.
    output_ended_ = true;
    ctx_.io.end_output(*socket_);
  }
  // A send still in flight has bytes to go out before the FIN.
  // (pending() counts bytes sent straight from receive buffers too.)
  if (socket_->pending() > 0 || socket_->sending) return;
  if (peer_eof_) {
    // Nothing unread: close() sends a FIN after whatever the kernel still
    // holds for the peer, and no reset.
    close_now(CloseReason::none, "closed", LogLevel::debug);
    return;
  }
  // The peer may still be sending. close() with unread input sends a reset,
  // and a reset destroys whatever we wrote that the peer has not yet
  // acknowledged. Shut down our write side instead (a FIN after the echoes),
  // discard input, and close once the peer has it all (or gives up on it).
  ctx_.io.shutdown_write(*socket_);
  state_ = State::lingering;
  next_check_ = now();
  settle();
}

void Conn::force_close(CloseReason reason, const std::string& why, LogLevel level) {
  if (state_ != State::closed) close_now(reason, why, level);
}

CloseReason Conn::reason_of(const net::SysError& error) noexcept {
  if (error.code == ECONNRESET || error.code == EPIPE) return CloseReason::reset;
  // Message-only errors (-1) come from the TLS layer.
  return error.code == -1 ? CloseReason::tls : CloseReason::io_error;
}

void Conn::close_now(CloseReason reason, const std::string& why, LogLevel level) {
  if (reason_ == CloseReason::none) reason_ = reason;
  if (util::log_enabled(level)) {
    log(level, "conn " + peer() + " " + why,
        event("closed").text("reason", to_string(reason_)).text("why", why));
  }
  bump(ctx_.counters.closed[static_cast<std::size_t>(reason_)]);
  destroying_ = true;
  // A connection still awaiting its PROXY header was never opened.
  if (opened_) handler_->on_close(*this);
  state_ = State::closed;
  ctx_.loop.timers().cancel(timer_);
  ctx_.io.close(*socket_);
  socket_ = nullptr;
  report_pending();  // Nothing is owed any more.
  drop(ctx_.counters.open);
  ctx_.limit.release(!outbound());
  if (client_) ctx_.limit.per_ip().release(*client_);
  ctx_.table.release(*this);  // Freed at the end of the loop's turn.
}

void Conn::end_input_close(CloseReason reason, const std::string& why, LogLevel level) {
  if (!held_) {
    begin_close(reason, why, level);
    return;
  }
  // Held: input stops here for good (what arrives later is discarded, as
  // while closing), output goes on; the first reason is the one kept.
  input_over_ = true;
  frame_open_ = false;
  unread_.clear();  // Input kept back is never delivered now, as when closing.
  eof_deferred_ = false;
  if (deferred_.reason == CloseReason::none) deferred_ = {reason, why, level};
}

void Conn::begin_drain() {
  if (!open_phase()) return;
  if (state_ == State::open && (session_.in_frame() || held_)) {
    // Read on to the end of this frame only; a held connection then waits
    // for its release (take_input, or here when no frame is in progress).
    state_ = State::draining;
    if (!session_.in_frame()) end_input_close(CloseReason::drain, "server shutting down",
                                              LogLevel::debug);
  } else {
    begin_close(CloseReason::drain, "server shutting down", LogLevel::debug);
    advance_close();
  }
  if (state_ != State::closed) settle();
}

Conn::Due Conn::next_deadline() const noexcept {
  const auto& config = ctx_.config;
  Due due;
  // Earliest wins; on a tie the later candidate (the more specific rule).
  auto consider = [&](loop::TimePoint when, Deadline what) {
    if (when <= due.when) due = {when, what};
  };
  if (state_ == State::closed) return due;
  if (!open_phase()) {
    consider(last_progress_ + config.linger_timeout, Deadline::linger_timeout);
    consider(closing_since_ + config.linger_time, Deadline::linger_time);
    if (state_ == State::lingering && next_check_ < due.when) {
      due = {next_check_, Deadline::delivery_check};
    }
    return due;
  }
  if (config.idle_timeout.count() > 0)
    consider(last_activity_ + config.idle_timeout, Deadline::idle);
  if (frame_open_ && !paused_ && config.frame_timeout.count() > 0) {
    consider(frame_started_ + config.frame_timeout, Deadline::frame);
  }
  if (state_ == State::proxy_header && config.proxy_timeout.count() > 0) {
    consider(proxy_deadline_, Deadline::proxy_header);
  }
  if (state_ == State::handshake && config.tls.handshake_timeout.count() > 0) {
    consider(handshake_deadline_, Deadline::handshake);
  }
  return due;
}

void Conn::on_deadline() {
  const auto& config = ctx_.config;
  // Before any verdict: a peer that read our echoes since we last looked
  // has been active, though no event told us.
  std::size_t unacked = SIZE_MAX;
  observe_acks(unacked);
  if (state_ == State::lingering) {
    if (unacked == 0) {
      close_now(CloseReason::none, "closed: every echo delivered", LogLevel::debug);
      return;
    }
    // Fault point: ask the kernel sooner (any interval is correct).
    next_check_ = now() + (FRAMED_BUGGIFY(0.3) ? std::chrono::milliseconds(1) : kDeliveryCheck);
  }
  const Due due = next_deadline();
  if (due.when > now()) {
    ctx_.loop.timers().schedule(timer_, due.when);
    return;
  }
  switch (due.what) {
    case Deadline::none:
    case Deadline::delivery_check: return;  // Not due (see above).
    case Deadline::linger_time:
      close_now(CloseReason::none,
                "closed: still undelivered " + ms_text(config.linger_time) +
                    " after closing began (--linger-time)",
                LogLevel::info);
      return;
    case Deadline::linger_timeout:
      close_now(CloseReason::none,
                "closed: peer acknowledged nothing for " + ms_text(config.linger_timeout) +
                    " while closing",
                LogLevel::info);
      return;
    case Deadline::proxy_header:
      bump(ctx_.counters.timed_out);
      begin_close(CloseReason::proxy_timeout,
                  "PROXY header timeout: no complete header " + ms_text(config.proxy_timeout) +
                      " after the accept (" + std::to_string(proxy_.offset()) + " bytes of it)",
                  LogLevel::info);
      break;
    case Deadline::handshake:
      bump(ctx_.counters.timed_out);
      begin_close(CloseReason::handshake_timeout,
                  "TLS handshake timeout: not finished " + ms_text(config.tls.handshake_timeout) +
                      " after the accept",
                  LogLevel::info);
      break;
    case Deadline::frame:
      bump(ctx_.counters.timed_out);
      begin_close(CloseReason::frame_timeout,
                  "frame timeout: frame incomplete " + ms_text(config.frame_timeout) +
                      " after its first byte (stream offset " +
                      std::to_string(session_.decoder().offset()) + ")",
                  LogLevel::info);
      break;
    case Deadline::idle:
      // The graceful close of §6.8, not close(): the peer may still be
      // reading slowly where we cannot see it (a receiver announces a
      // reading only every few segments), and a reset would destroy the
      // echoes already written. If it really stopped reading, the linger
      // gives up after --linger-timeout.
      bump(ctx_.counters.timed_out);
      begin_close(CloseReason::idle,
                  "idle timeout " + ms_text(config.idle_timeout) + ": no bytes moved",
                  LogLevel::info);
      break;
  }
  advance_close();
  if (state_ != State::closed) settle();
}

}  // namespace framed::core
