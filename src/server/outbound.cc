// A worker's outbound connections (Loop::connect): resolve, try each
// address in turn within one deadline, and on success hand the socket to a
// Conn exactly as an accepted one, with the caller's handler. Failures
// reach the handler through on_connect_error from a posted task, never
// from inside Loop::connect, so a handler never re-enters its caller.
#include <algorithm>
#include <cerrno>
#include <string>

#include "server/worker.h"
#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

}  // namespace

ConnectionHandle Worker::connect(const std::string& host, std::uint16_t port,
                                 std::unique_ptr<Handler> handler,
                                 std::chrono::milliseconds timeout) {
  if (!handler) return {};
  auto o = std::make_unique<Outbound>();
  o->id = table_.reserve_id();
  o->host = host;
  o->handler = std::move(handler);
  o->timeout = timeout;
  Outbound& out = *o;
  outbound_.push_back(std::move(o));
  const ConnectionHandle h{index_, out.id};
  std::string detail;
  if (draining_) {
    fail_outbound(out, {"the server is stopping", Errc::other});
  } else if (const auto e = net::resolve(host, port, false, out.candidates, detail); !e.ok()) {
    fail_outbound(out, {"cannot resolve '" + host + "': " + detail, Errc::resolve});
  } else if (out.candidates.empty()) {
    fail_outbound(out, {"cannot resolve '" + host + "': no address", Errc::resolve});
  } else if (!limit_.try_reserve(false)) {
    fail_outbound(out, {"cannot connect to " + host + ": max_conns (" +
                            std::to_string(config_.max_conns) + ") connections are open",
                        Errc::connect});
  } else {
    Outbound* self = &out;
    out.timer = loop_->timers().add([this, self] {
      fail_outbound(*self, {"cannot connect to " + self->host + ": timed out after " +
                                ms_text(self->timeout) +
                                (self->last_error.empty() ? "" : " (" + self->last_error + ")"),
                            Errc::timed_out});
    });
    loop_->timers().schedule(out.timer, loop_->now() + timeout);
    connect_next(out);
  }
  return h;
}

void Worker::connect_next(Outbound& o) {
  while (o.next < o.candidates.size()) {
    o.trying = o.candidates[o.next++];
    net::SysError e;
    o.socket = io_->connect(o.trying, e);
    if (o.socket != nullptr) {
      o.socket->owner = &o;
      return;
    }
    o.last_error = o.trying.to_string() + ": " + e.message();
  }
  limit_.release(false);
  fail_outbound(o, {"cannot connect to " + o.last_error, Errc::connect});
}

void Worker::on_connected(transport::Socket& s, const net::SysError& result) {
  auto& o = *static_cast<Outbound*>(s.owner);
  o.socket = nullptr;
  if (!result.ok()) {
    o.last_error = o.trying.to_string() + ": " + result.message();
    io_->close(s);
    connect_next(o);
    return;
  }
  if (const auto e = io_->open(s); !e.ok()) {
    // Never opened to the handler: it hears of the failure instead.
    io_->close(s);
    limit_.release(false);
    fail_outbound(o, {"cannot connect to " + o.trying.to_string() + ": " + e.message(), Errc::io});
    return;
  }
  // Connected: from here on it is a connection like any other.
  loop_->timers().remove(o.timer);
  core::Conn& c = table_.create(*ctx_, s, o.trying.to_string(), o.id, std::move(o.handler));
  core::bump(counters_.open);
  const auto it = std::find_if(outbound_.begin(), outbound_.end(),
                               [&](const auto& p) { return p.get() == &o; });
  outbound_.erase(it);  // `o` is gone.
  c.start(true);
}

void Worker::fail_outbound(Outbound& o, Error error) {
  loop_->timers().remove(o.timer);
  o.timer = {};
  if (o.socket != nullptr) {
    // Timed out (or stopping) mid-attempt: the reservation goes with it.
    io_->close(*o.socket);
    o.socket = nullptr;
    limit_.release(false);
  }
  log(LogLevel::info, "outbound connection " + std::to_string(o.id) + ": " + error.message);
  // Taken out now (no later event may find it), told on the next turn.
  const auto it = std::find_if(outbound_.begin(), outbound_.end(),
                               [&](const auto& p) { return p.get() == &o; });
  std::shared_ptr<Handler> handler(std::move(o.handler));
  const ConnectionHandle h{index_, o.id};
  outbound_.erase(it);
  loop_->post([this, handler, h, error = std::move(error)] {
    run_guarded("on_connect_error", [&] { handler->on_connect_error(h, error); });
  });
}

void Worker::cancel_outbound(const char* why) {
  while (!outbound_.empty()) fail_outbound(*outbound_.front(), {why, Errc::other});
}

}  // namespace framed::server
