#include "server/worker.h"

#include <algorithm>
#include <cerrno>
#include <optional>

#include "util/buggify.h"
#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

}  // namespace

Worker::Worker(std::size_t index, const ServerOptions& config, loop::Clock& clock,
               core::ConnLimit& limit)
    : index_(index),
      config_(config),
      clock_(clock),
      table_(index, std::max<std::size_t>(config.workers, 1)),
      limit_(limit) {}

Worker::~Worker() {
  // Connections refer to the context, the loop's timers and the transport:
  // they go first, and connects in progress with them.
  if (loop_) {
    cancel_outbound("the server is gone");
    loop_->run_pending();  // Their on_connect_error, and what else waits.
  }
  table_.for_each([](core::Conn& c) {
    c.force_close(core::CloseReason::stopped, "closed: worker destroyed", LogLevel::debug);
  });
  table_.collect();
  acceptor_.reset();
  if (loop_ && drain_timer_.valid()) loop_->timers().remove(drain_timer_);
}

bool Worker::init(const MakeTransport& make, net::UniqueFd listener, std::string& error,
                  bool inherited) {
  io_ = make(*this, error);
  if (!io_) return false;
  loop_ = std::make_unique<loop::EventLoop>(clock_, *io_);
  ctx_ = std::make_unique<core::Context>(config_, *loop_, *io_, counters_, limit_, table_, *this);
  ctx_->handler = handler_.get();
  ctx_->listener_inherited = inherited;
  acceptor_ = std::make_unique<core::Acceptor>(*ctx_);
  drain_timer_ = loop_->timers().add([this] { drain_expired(); });
  if (listener) {
    if (const auto e = io_->set_listener(std::move(listener)); !e.ok()) {
      error = e.message();
      return false;
    }
  }
  return true;
}

void Worker::set_handler(std::unique_ptr<Handler> handler) {
  handler_ = std::move(handler);
  if (ctx_) ctx_->handler = handler_.get();
}

bool Worker::start() {
  bind_thread();
  if (const auto e = io_->start(); !e.ok()) {
    log(LogLevel::error, "worker " + std::to_string(index_) + ": " + e.message());
    return false;
  }
  if (!draining_) acceptor_->start();
  return true;
}

int Worker::run() {
  if (!start()) return 1;
  int rc = 0;
  while (turn(rc)) {
  }
  teardown();
  // The loop is over: whoever joins this thread may now destroy what the
  // handlers hold (their timers included) from its own.
  thread_.store(std::thread::id{}, std::memory_order_release);
  return rc;
}

bool Worker::turn(int& rc) {
  if (exit_) {
    rc = 1;
    return false;
  }
  if (done_) return false;
  if (const auto e = loop_->run_once(); !e.ok()) {
    log(LogLevel::error, e.message());
    rc = 1;
    return false;
  }
  core::Conn::process_dirty(*ctx_);
  table_.collect();
  check_drained();
  if (exit_) rc = 1;
  return !exit_ && !done_;
}

void Worker::teardown() {
  io_->close_listener();
  cancel_outbound("the server stopped");
  // Tasks posted before the loop ended still run (on_connect_error among
  // them), while every connection still exists.
  loop_->run_pending();
  cut_ += table_.size();
  table_.for_each([](core::Conn& c) {
    c.force_close(core::CloseReason::stopped, "closed: worker stopping", LogLevel::debug);
  });
  core::Conn::process_dirty(*ctx_);
  table_.collect();
  io_->finish();
}

void Worker::begin_shutdown(loop::TimePoint deadline) {
  if (draining_) {
    if (!done_ && deadline < loop_->timers().deadline(drain_timer_)) {
      if (deadline <= loop_->now()) {
        drain_expired();
      } else {
        loop_->timers().schedule(drain_timer_, deadline);
      }
    }
    return;
  }
  draining_ = true;
  ctx_->shutting_down = true;
  const std::uint64_t before = counters_.accepted.load(std::memory_order_relaxed);
  acceptor_->stop();
  const std::uint64_t queued = counters_.accepted.load(std::memory_order_relaxed) - before;
  log(LogLevel::debug,
      "worker " + std::to_string(index_) + ": listener closed" +
          (queued > 0 ? " (" + std::to_string(queued) + " queued accepted)" : std::string()) +
          ", draining " + std::to_string(table_.size()) + " connection(s)");
  cancel_outbound("the server is stopping");
  // Outbound connections last (check_drained): a handler's backends still
  // answer for the clients that finish their frames now.
  table_.for_each([](core::Conn& c) {
    if (!c.outbound()) c.begin_drain();
  });
  core::Conn::process_dirty(*ctx_);
  if (deadline <= loop_->now()) {
    drain_expired();
  } else {
    loop_->timers().schedule(drain_timer_, deadline);
  }
  check_drained();
}

Worker* Worker::sibling(std::size_t index) noexcept {
  if (siblings_ == nullptr) return index == index_ ? this : nullptr;
  return index < siblings_->size() ? (*siblings_)[index].get() : nullptr;
}

void Worker::run_guarded(const char* what, const std::function<void()>& f) {
  // The one place a handler's exception is caught: it must not unwind
  // through the loop, whose state (the timer being fired, the dirty list)
  // would be left half-updated.
  try {
    f();
  } catch (const std::exception& e) {
    log(LogLevel::error, "worker " + std::to_string(index_) + ": " + what + " threw: " + e.what() +
                             "; the loop goes on");
  } catch (...) {
    log(LogLevel::error, "worker " + std::to_string(index_) + ": " + what +
                             " threw a non-exception; the loop goes on");
  }
  core::Conn::process_dirty(*ctx_);
}

void Worker::drain_expired() {
  if (done_) return;
  if (!table_.empty()) {
    log(LogLevel::warn, "drain timeout " + ms_text(config_.drain_timeout) +
                            " expired: force-closing " + std::to_string(table_.size()) +
                            " connection(s)");
  }
  cut_ += table_.size();
  table_.for_each([](core::Conn& c) {
    c.force_close(core::CloseReason::drain_timeout, "drain timeout", LogLevel::debug);
  });
  done_ = true;
  io_->wake();
}

void Worker::check_drained() {
  if (!draining_ || done_) return;
  if (!outbound_drained_) {
    // A scan per turn, only while draining (bounded by the drain timeout).
    bool inbound = io_->accepts_pending();
    table_.for_each([&inbound](const core::Conn& c) { inbound = inbound || !c.outbound(); });
    if (inbound) return;
    outbound_drained_ = true;
    table_.for_each([](core::Conn& c) { c.begin_drain(); });
    core::Conn::process_dirty(*ctx_);
  }
  if (!table_.empty() || io_->accepts_pending()) return;
  log(LogLevel::debug, "worker " + std::to_string(index_) + ": all connections closed");
  done_ = true;
  io_->wake();  // A turn may be about to wait: let it return at once.
}

void Worker::on_accepted(transport::Socket& s, const net::Endpoint& peer) {
  std::optional<core::IpKey> client;
  if (!acceptor_->admit(peer, client)) {
    io_->close(s);
    return;
  }
  core::Conn& c = table_.create(*ctx_, s, peer.to_string());
  if (client) c.hold_client(*client);
  core::bump(counters_.accepted);
  core::bump(counters_.open);
  auto e = io_->open(s);
  if (FRAMED_BUGGIFY(0.02)) e = {"epoll_ctl", ENOMEM};  // Fault point: registration fails.
  if (!e.ok()) {
    c.force_close(core::CloseReason::io_error, e.message(), LogLevel::error);
    return;
  }
  c.start();
}

void Worker::on_accept_error(const net::SysError& error) { acceptor_->on_error(error); }

transport::Flow Worker::on_input(transport::Socket& s, std::span<const std::byte> bytes) {
  return conn(s).on_input(bytes);
}

void Worker::on_eof(transport::Socket& s) { conn(s).on_eof(); }

void Worker::on_error(transport::Socket& s, const net::SysError& error) { conn(s).on_error(error); }

void Worker::on_writable(transport::Socket& s) { conn(s).on_writable(); }

void Worker::on_sent(transport::Socket& s, std::size_t bytes, std::uint64_t frames) {
  conn(s).on_sent(bytes, frames);
}

void Worker::on_settle(transport::Socket& s) {
  // Output one connection's input made for others (a proxy's replies, a
  // broadcast) is written at the end of the turn (turn()), not after each
  // socket: a connection that several sockets of this turn sent to gets
  // one write, not one per sender.
  conn(s).on_settle();
}

}  // namespace framed::server
