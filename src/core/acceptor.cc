#include "core/acceptor.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "util/log.h"

namespace framed::core {
namespace {

using util::log;
using util::LogLevel;

constexpr std::chrono::milliseconds kAcceptPause{100};
constexpr std::chrono::seconds kRefuseLogInterval{1};
// At shutdown, connections still in the listen queue are accepted (and
// closed cleanly) before the listener closes; this bounds that loop.
constexpr std::size_t kMaxAcceptsAtShutdown = 65'536;

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

}  // namespace

Acceptor::Acceptor(Context& ctx) : ctx_(ctx) {
  spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // serve() has already refused a bad list; a range that fails here is
  // dropped, which refuses more peers, never fewer.
  std::string bad;
  (void)net::parse_cidrs(ctx_.config.proxy_from, proxy_from_, bad);
  resume_ = ctx_.loop.timers().add([this] {
    paused_ = false;
    ctx_.io.accepting(true);
  });
}

Acceptor::~Acceptor() { ctx_.loop.timers().remove(resume_); }

void Acceptor::start() {
  if (ctx_.io.has_listener()) ctx_.io.accepting(true);
}

bool Acceptor::admit(const net::Endpoint& peer, std::optional<IpKey>& held) {
  const loop::TimePoint now = ctx_.loop.now();
  if (ctx_.config.proxy_protocol && !net::contains_any(proxy_from_, peer.addr)) {
    // A header from anyone could claim any address: only the proxies we
    // trust may send one, and a direct client cannot be served without.
    bump(ctx_.counters.refused);
    bump(ctx_.counters.refused_proxy);
    // At most one line a second, so a flood of strangers cannot flood
    // the log; the count says how many were refused since the last one.
    ++strangers_unlogged_;
    if (now - last_stranger_log_ >= kRefuseLogInterval) {
      log(LogLevel::warn,
          "conn " + peer.to_string() +
              " refused: not in --proxy-from, so it may not send a PROXY header (" +
              std::to_string(strangers_unlogged_) + " such refusal(s))",
          util::LogEvent("refused")
              .text("peer", peer.to_string())
              .text("reason", "proxy")
              .number("refused", strangers_unlogged_));
      last_stranger_log_ = now;
      strangers_unlogged_ = 0;
    }
    return false;
  }
  if (!ctx_.limit.try_reserve(true)) {
    // Accept-and-close, so the client learns at once instead of waiting in
    // the backlog.
    bump(ctx_.counters.refused);
    bump(ctx_.counters.refused_max_conns);
    ++refusals_unlogged_;
    if (now - last_refuse_log_ >= kRefuseLogInterval) {
      log(LogLevel::warn,
          "connection limit " + std::to_string(ctx_.limit.max_inbound()) + " reached: refused " +
              std::to_string(refusals_unlogged_) + " connection(s)",
          util::LogEvent("refused")
              .text("peer", peer.to_string())
              .text("reason", "max-conns")
              .number("limit", ctx_.limit.max_inbound())
              .number("refused", refusals_unlogged_));
      last_refuse_log_ = now;
      refusals_unlogged_ = 0;
    }
    return false;
  }
  // Behind a PROXY header the client is known only once the header is in
  // (Conn::read_proxy_header takes its slot then).
  IpKey key;
  if (ctx_.limit.per_ip().enabled() && !ctx_.config.proxy_protocol && IpKey::of(peer, key)) {
    if (!admit_client(ctx_, key, peer.to_string())) {
      ctx_.limit.release(true);
      return false;
    }
    held = key;
  }
  return true;
}

bool admit_client(Context& ctx, const IpKey& key, const std::string& who) {
  IpLimit& limit = ctx.limit.per_ip();
  const IpLimit::Refusal r = limit.try_reserve(key, ctx.loop.now());
  if (!r.refused) return true;
  bump(ctx.counters.refused);
  bump(ctx.counters.refused_per_ip);
  // One line a second per client at most: a client looping on connect
  // cannot flood the log, and each client over the limit is named.
  if (r.log) {
    log(LogLevel::warn,
        "conn " + who + " refused: " + key.text() + " holds " + std::to_string(limit.max()) +
            " connection(s), the --max-conns-per-ip limit (" + std::to_string(r.unlogged) +
            " refusal(s) of it since the last line)",
        util::LogEvent("refused")
            .text("peer", who)
            .text("reason", "per-ip")
            .text("client", key.text())
            .number("limit", limit.max())
            .number("refused", r.unlogged));
  }
  return false;
}

void Acceptor::on_error(const net::SysError& error) {
  if (stopping_) {
    // An accept failed while the stop accepts the queue: closing the
    // listener would reset what is left in it. Shed it instead (each
    // accepted and closed at once; out of descriptors, with the spare), no
    // pause. If even that fails, the close resets the rest: say so.
    const bool out_of_fds = error.code == EMFILE || error.code == ENFILE;
    if (out_of_fds) spare_.reset();
    std::size_t shed = 0;
    for (; shed < kMaxAcceptsAtShutdown && ctx_.io.shed_one(); ++shed) {
      bump(ctx_.counters.refused);
      bump(ctx_.counters.refused_shed);
    }
    if (out_of_fds) spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    const std::size_t left = ctx_.io.listener_queue();
    log(LogLevel::warn, error.message() + " while stopping: shed " + std::to_string(shed) +
                            " queued connection(s)" +
                            (left > 0 && left != SIZE_MAX
                                 ? "; " + std::to_string(left) + " left to be reset by the close"
                                 : std::string()));
    return;
  }
  // Several accepts of a completion transport may fail in one batch: one
  // shed and one line per pause.
  if (paused_ || !ctx_.io.has_listener()) return;
  const loop::TimePoint now = ctx_.loop.now();
  if (error.code == EMFILE || error.code == ENFILE) {
    // Out of descriptors: the pending connection would make the listener
    // readable forever. Free the spare descriptor, accept and close the
    // connection, take the spare back, and pause accepting for a moment.
    spare_.reset();
    if (ctx_.io.shed_one()) {
      bump(ctx_.counters.refused);
      bump(ctx_.counters.refused_shed);
    }
    spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    pause();
    ++refusals_unlogged_;
    if (now - last_refuse_log_ >= kRefuseLogInterval) {
      // Named after the shedding accept4(), whichever call reported it.
      log(LogLevel::warn, net::SysError{"accept4", error.code}.message() + ": shed " +
                              std::to_string(refusals_unlogged_) +
                              " connection(s), pausing accepts for " + ms_text(kAcceptPause));
      last_refuse_log_ = now;
      refusals_unlogged_ = 0;
    }
    return;
  }
  // ENOBUFS, ENOMEM and the like: back off instead of spinning.
  log(LogLevel::error, error.message() + "; pausing accepts");
  pause();
}

void Acceptor::pause() {
  paused_ = true;
  ctx_.io.accepting(false);
  ctx_.loop.timers().schedule(resume_, ctx_.loop.now() + kAcceptPause);
}

std::size_t Acceptor::stop() {
  ctx_.loop.timers().cancel(resume_);
  paused_ = false;
  if (!ctx_.io.has_listener()) return 0;
  // Connections the kernel completed before the signal wait in the listen
  // queue; closing the listener would reset them. Accept them (they are
  // closed cleanly, like every connection with no frame begun), and only
  // them: a reconnect storm must neither keep the stop accepting nor join
  // the queue between the last accept and the close, to be reset.
  std::size_t bound = kMaxAcceptsAtShutdown;
  if (ctx_.listener_inherited) {
    // Not ours to seal: the service manager keeps this socket for the next
    // instance, and what it queues after now waits there for it.
    bound = std::min(bound, ctx_.io.listener_queue());
  } else if (const auto e = ctx_.io.seal_listener(); !e.ok()) {
    // Then the bound is all that limits the storm; the close may reset a
    // client that joins the queue at the last moment.
    log(LogLevel::warn, "cannot seal the listener before closing it: " + e.message());
    bound = std::min(bound, ctx_.io.listener_queue());
  }
  ctx_.io.accepting(false);
  stopping_ = true;
  const std::size_t queued = ctx_.io.accept_queued(bound);
  // Closing the listener now means later clients are refused by the kernel
  // rather than accepted and dropped.
  ctx_.io.close_listener();
  return queued;
}

}  // namespace framed::core
