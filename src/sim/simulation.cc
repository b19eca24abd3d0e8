#include "sim/simulation.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>

#include "core/conn.h"
#include "framed/encoder.h"
#include "framed/proxy.h"
#include "sim/buggify.h"
#include "sim/oracle.h"
#include "sim/peer.h"
#include "sim/rig.h"
#include "sim/setup.h"
#include "util/log.h"

namespace framed::sim {
namespace {

using loop::TimePoint;
using std::chrono::milliseconds;

std::uint64_t fnv1a(std::uint64_t h, const std::string& line) {
  for (const char ch : line) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001B3ULL;
  }
  h ^= '\n';
  return h * 0x100000001B3ULL;
}

// What the server's log says of one simulated connection.
struct Facts {
  bool closing = false;
  TimePoint closing_since{};
  std::string closing_why;
  std::uint64_t consumed_at_drain = UINT64_MAX;  // When the drain began.
  bool header_done = false;  // The PROXY header was taken (or is not asked for).
  std::string reason;        // The close's.
  bool judged = false;
  bool excused = false;  // The close may give up bytes it owed.
};

class Run {
 public:
  Run(std::uint64_t seed, const RunOptions& options)
      : seed_(seed), options_(options), rng_(seed), setup_(draw_setup(rng_)) {}

  Outcome go();

 private:
  [[nodiscard]] TimePoint now() const { return rig_->clock().now(); }
  void trace(const std::string& line);
  void violation(const std::string& what);
  void on_log(util::LogLevel level, std::string_view message);
  static void log_sink(util::LogLevel level, std::string_view message, void* self) {
    static_cast<Run*>(self)->on_log(level, message);
  }
  void on_close(SimConn& c);
  void judge_timeout(std::size_t conn, std::string_view why);
  // The bytes of a connection's frame stream its peer sent before it (a
  // valid PROXY header's length), or SIZE_MAX if its header is not valid
  // (or it has no peer).
  [[nodiscard]] std::size_t header_of(std::size_t conn) const;
  // When the server first read a byte past frame-stream offset `offset`.
  [[nodiscard]] TimePoint first_read_past(const SimConn& c, std::uint64_t offset) const;
  // How long, within [a, b), the server did not want to read `c`.
  [[nodiscard]] static loop::Duration paused_between(const SimConn& c, TimePoint a, TimePoint b);
  void on_late_reset(SimConn& c);
  void check_peer(Peer& p);
  void check_step();
  void check_end();
  const std::vector<std::byte>& max_owed(std::size_t peer);
  [[nodiscard]] std::size_t header_ok(const Peer& p) const;

  std::uint64_t seed_;
  RunOptions options_;
  Rng rng_;
  Setup setup_;
  std::unique_ptr<Rig> rig_;
  std::vector<Peer> peers_;
  std::map<std::size_t, std::size_t> peer_by_conn_;
  std::map<std::size_t, Facts> facts_;        // By connection.
  std::map<std::string, std::size_t> alias_;  // Client address -> connection.
  std::map<std::size_t, std::vector<std::byte>> max_owed_;
  std::vector<bool> judged_end_;
  std::vector<std::size_t> prefix_checked_;
  Outcome out_;
  TimePoint t0_{};
  bool drain_begun_ = false;
  TimePoint drain_deadline_ = TimePoint::max();
  bool teardown_ = false;
  std::size_t largest_frame_ = 0;  // The largest payload any peer sends.
  SimTransport::ConsumedOf consumed_of_;
};

void Run::trace(const std::string& line) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now() - t0_).count();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%lld.%03lld ", static_cast<long long>(us / 1000),
                static_cast<long long>(us % 1000));
  const std::string full = stamp + line;
  out_.trace_hash = fnv1a(out_.trace_hash, full);
  if (options_.keep_trace) out_.trace.push_back(full);
}

void Run::violation(const std::string& what) {
  if (out_.violations.size() < 20) out_.violations.push_back(what);
  trace("VIOLATION " + what);
}

void Run::on_log(util::LogLevel level, std::string_view message) {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error", "off"};
  trace(std::string("server ") + kNames[static_cast<int>(level)] + " " + std::string(message));
  if (!message.starts_with("conn ")) return;
  const auto space = message.find(' ', 5);
  if (space == std::string_view::npos) return;
  const std::string addr(message.substr(5, space - 5));
  const std::string_view rest = message.substr(space + 1);
  // Simulated connections come from 127.0.0.1:(20000 + id). A PROXY
  // header renames one after its client ("conn CLIENT via proxy REAL"):
  // later lines name the client.
  auto conn_of = [](std::string_view a) -> std::size_t {
    const auto colon = a.rfind(':');
    if (colon == std::string_view::npos) return SIZE_MAX;
    const long port = std::atol(std::string(a.substr(colon + 1)).c_str());
    return port >= 20000 ? static_cast<std::size_t>(port - 20000) : SIZE_MAX;
  };
  if (rest.starts_with("via proxy ")) {
    const std::string_view real = rest.substr(10, rest.find(' ', 10) - 10);
    alias_[addr] = conn_of(real);
    facts_[conn_of(real)].header_done = true;
    return;
  }
  const auto alias = alias_.find(addr);
  const std::size_t conn = alias != alias_.end() ? alias->second : conn_of(addr);
  if (conn == SIZE_MAX) return;
  Facts& f = facts_[conn];
  if (rest.find(": real address kept") != std::string_view::npos) f.header_done = true;
  if (rest.starts_with("closing: ")) {
    if (!f.closing) {
      f.closing = true;
      f.closing_since = now();
      f.closing_why = std::string(rest.substr(9));
      judge_timeout(conn, rest.substr(9));
    }
  } else if (rest.starts_with("closed") || rest.starts_with("drain timeout") ||
             rest.starts_with("read:") || rest.starts_with("sendmsg:") ||
             rest.starts_with("epoll_ctl:")) {
    f.reason = std::string(rest);
  }
}

std::size_t Run::header_of(std::size_t conn) const {
  const auto it = peer_by_conn_.find(conn);
  if (it == peer_by_conn_.end()) return SIZE_MAX;
  return header_ok(peers_[it->second]);
}

TimePoint Run::first_read_past(const SimConn& c, std::uint64_t offset) const {
  const std::uint64_t past = header_of(c.id) + offset;
  // Reads are in order, their totals growing: the first above `past`.
  const auto it = std::upper_bound(c.reads.begin(), c.reads.end(), past,
                                   [](std::uint64_t v, const auto& r) { return v < r.second; });
  return it == c.reads.end() ? TimePoint::max() : it->first;
}

loop::Duration Run::paused_between(const SimConn& c, TimePoint a, TimePoint b) {
  loop::Duration paused{};
  bool want = true;
  TimePoint since = a;
  for (const auto& [when, w] : c.wants) {
    if (when >= b) break;
    if (!want && when > a) paused += when - std::max(since, a);
    want = w;
    since = when;
  }
  if (!want && b > since) paused += b - std::max(since, a);
  return paused;
}

// A close began for a timeout: the timeout must really have passed, as the
// server could know it (§6.4 idle, §6.5 frame, the PROXY header's).
void Run::judge_timeout(std::size_t conn, std::string_view why) {
  if (conn >= rig_->net().conn_count()) return;
  const SimConn& c = rig_->net().conn(conn);
  const ServerOptions& o = setup_.server;
  const TimePoint t = now();
  const auto ms = [](loop::Duration d) {
    return std::to_string(std::chrono::duration_cast<milliseconds>(d).count());
  };
  if ((why.starts_with("idle timeout") && o.idle_timeout.count() == 0) ||
      (why.starts_with("frame timeout") && o.frame_timeout.count() == 0) ||
      (why.starts_with("PROXY header timeout") && o.proxy_timeout.count() == 0)) {
    violation("conn " + std::to_string(conn) +
              " closed for a timeout set to 0 (disabled): " + std::string(why));
    return;
  }
  if (why.starts_with("idle timeout")) {
    if (t < c.last_moved + o.idle_timeout) {
      violation("conn " + std::to_string(conn) + " closed as idle " + ms(t - c.last_moved) +
                " ms after bytes last moved (idle timeout " + ms(o.idle_timeout) + " ms)");
    }
  } else if (why.starts_with("frame timeout")) {
    const std::size_t header = header_of(conn);
    if (header == SIZE_MAX || c.socket == nullptr || !consumed_of_) return;
    const auto& frames = peers_[peer_by_conn_.at(conn)].script().frames;
    const std::uint64_t consumed = consumed_of_(*c.socket);
    const std::size_t start = last_frame_end(frames, consumed);
    if (start >= consumed) {
      violation("conn " + std::to_string(conn) +
                " closed for a frame timeout with no frame in progress");
      return;
    }
    const TimePoint began = first_read_past(c, start);
    const loop::Duration ran = t - began - paused_between(c, began, t);
    if (ran + milliseconds(1) < o.frame_timeout) {
      violation("conn " + std::to_string(conn) + " closed for a frame timeout after " + ms(ran) +
                " ms of the peer's time (frame timeout " + ms(o.frame_timeout) + " ms)");
    }
  } else if (why.starts_with("PROXY header timeout")) {
    if (t < c.accepted_at + o.proxy_timeout) {
      violation("conn " + std::to_string(conn) + " closed for the PROXY header timeout early");
    }
  }
}

// The server closed a connection: judge its reason against the spec, and
// whether it may give up the bytes it still owed (§6.8, §6.7).
void Run::on_close(SimConn& c) {
  Facts& f = facts_[c.id];
  const ServerOptions& o = setup_.server;
  const TimePoint t = now();
  bool excused = c.peer_rst || teardown_ || !c.opened;
  const std::string& r = f.reason;
  if (r.starts_with("drain timeout")) {
    if (t < drain_deadline_)
      violation("conn " + std::to_string(c.id) + " closed for the drain timeout before it");
    excused = true;
  } else if (r.starts_with("closed: peer acknowledged nothing")) {
    const TimePoint since = std::max(c.last_progress_seen, f.closing_since);
    if (t < since + o.linger_timeout) {
      violation("conn " + std::to_string(c.id) + " closed for no progress " +
                std::to_string(std::chrono::duration_cast<milliseconds>(t - since).count()) +
                " ms after the last it could see (linger timeout " +
                std::to_string(o.linger_timeout.count()) + " ms)");
    }
    excused = true;
  } else if (r.find("(--linger-time)") != std::string::npos) {
    if (!f.closing || t < f.closing_since + o.linger_time) {
      violation("conn " + std::to_string(c.id) + " closed for the linger time before it");
    }
    excused = true;
  } else if (r.starts_with("epoll_ctl:")) {
    excused = true;  // A fault point: the backend refused.
  } else if (r.starts_with("closed: worker")) {
    excused = true;
  }
  if (!c.opened && !teardown_) {
    // Refused at the accept: only the limit refuses here (every simulated
    // peer may send a PROXY header), so it must really have been reached.
    std::size_t kept = 0;
    rig_->net().for_each_open([&](const transport::Socket&, const SimConn& o2) {
      if (o2.opened) ++kept;
    });
    if (kept < o.max_conns) {
      violation("conn " + std::to_string(c.id) + " refused with " + std::to_string(kept) +
                " connection(s) open, under max-conns " + std::to_string(o.max_conns));
    }
  }
  f.judged = true;
  f.excused = excused;
  if (!excused && !c.c2s.empty() && !c.fin_delivered) {
    // close() with input unread resets the connection before the peer has
    // the FIN: it sees ECONNRESET, not the clean close §6.8 promises.
    violation("conn " + std::to_string(c.id) + " closed (" + (r.empty() ? "?" : r) + ") with " +
              std::to_string(c.c2s.size()) +
              " byte(s) unread before its FIN was delivered: a reset, not a clean close");
  }
  if (c.abandoned > 0 && !excused) {
    violation("conn " + std::to_string(c.id) + " closed (" + (r.empty() ? "?" : r) +
              ") giving up " + std::to_string(c.abandoned) +
              " owed byte(s), which no rule of §6.8 excuses");
  }
}

void Run::on_late_reset(SimConn& c) {
  // Input after the close reset the connection: what it still had in
  // flight is lost, which only an excused close may allow.
  const Facts& f = facts_[c.id];
  if (c.lost_to_reset > 0 && f.judged && !f.excused) {
    violation("conn " + std::to_string(c.id) + " was reset after its close (" + f.reason +
              "), losing " + std::to_string(c.lost_to_reset) + " unacknowledged byte(s)");
  }
}

// How many bytes of a peer's PROXY header the server takes as a valid
// header (0 without one; SIZE_MAX if it is not a valid one).
std::size_t Run::header_ok(const Peer& p) const {
  const auto& h = p.script().header;
  if (!setup_.server.proxy_protocol) return 0;
  ProxyParser parser;
  const ProxyResult r = parser.feed(h);
  return r.status == ProxyStatus::done ? h.size() : SIZE_MAX;
}

const std::vector<std::byte>& Run::max_owed(std::size_t peer) {
  auto it = max_owed_.find(peer);
  if (it == max_owed_.end()) {
    const Peer& p = peers_[peer];
    std::vector<std::byte> all;
    if (header_ok(p) != SIZE_MAX) {
      all = owed(p.script().frames, SIZE_MAX, true, setup_.service, setup_.server.max_frame,
                 setup_.reply);
    }
    it = max_owed_.emplace(peer, std::move(all)).first;
  }
  return it->second;
}

void Run::check_peer(Peer& p) {
  if (!p.connected()) return;
  const std::size_t index = static_cast<std::size_t>(&p - peers_.data());
  const auto& got = p.received();
  const auto& most = max_owed(index);
  // §6.1, §6.2: nothing but the echo, in order, byte-exact; nothing from
  // an oversize header on. (Only the bytes new since the last look.)
  std::size_t& checked = prefix_checked_[index];
  if (checked > got.size()) return;  // A violation, reported already.
  if (got.size() > most.size() ||
      !std::equal(got.begin() + static_cast<std::ptrdiff_t>(checked), got.end(),
                  most.begin() + static_cast<std::ptrdiff_t>(checked))) {
    std::size_t at = 0;
    while (at < got.size() && at < most.size() && got[at] == most[at]) ++at;
    violation("peer " + std::to_string(index) + " received " + std::to_string(got.size()) +
              " bytes, not a prefix of what it is owed at most (" + std::to_string(most.size()) +
              "): first difference at " + std::to_string(at));
    checked = got.size() + 1;  // Reported once.
    return;
  }
  checked = got.size();
  if (!p.finished() || judged_end_[index]) return;
  judged_end_[index] = true;
  const SimConn& c = rig_->net().conn(p.conn());
  if (!p.saw_fin() || !c.opened) return;
  const Facts& f = facts_[c.id];
  if (f.excused && c.abandoned > 0) return;
  if (f.excused && c.lost_to_reset > 0) return;
  // §6.1-§6.3: exactly what the server owes for what it consumed.
  const std::size_t header = header_ok(p);
  const std::uint64_t consumed = c.consumed_at_fin == UINT64_MAX ? 0 : c.consumed_at_fin;
  const auto want = header == SIZE_MAX
                        ? std::vector<std::byte>{}
                        : owed(p.script().frames, consumed, c.eof_before_fin, setup_.service,
                               setup_.server.max_frame, setup_.reply);
  if (got != want) {
    violation("peer " + std::to_string(index) + " (conn " + std::to_string(c.id) + ", " +
              (f.closing_why.empty() ? f.reason : f.closing_why) + ") received " +
              std::to_string(got.size()) + " bytes, owed " + std::to_string(want.size()) + " for " +
              std::to_string(consumed) + " consumed" + (c.eof_before_fin ? " up to EOF" : ""));
  }
  if (header != SIZE_MAX && c.eof_before_fin) {
    // §6.3: at EOF everything the peer sent was consumed (up to an
    // oversize header, whose 4 bytes the decoder takes).
    const std::size_t sent = p.sent() > header ? p.sent() - header : 0;
    const std::size_t over = oversize_at(p.script().frames, setup_.server.max_frame);
    const std::size_t all = std::min(sent, over == SIZE_MAX ? sent : over + kHeaderSize);
    if (consumed != all) {
      violation("peer " + std::to_string(index) + ": the server took its EOF having consumed " +
                std::to_string(consumed) + " of " + std::to_string(all) + " bytes");
    }
  }
  if (header != SIZE_MAX && f.closing_why.starts_with("server shutting down")) {
    // §6.7: the drain reads on to the end of the frame begun, no further.
    const auto& frames = p.script().frames;
    std::uint64_t limit = f.consumed_at_drain == UINT64_MAX ? 0 : f.consumed_at_drain;
    if (last_frame_end(frames, limit) != limit) {
      limit = last_frame_end(frames, limit);
      limit += kHeaderSize + ((std::to_integer<std::size_t>(frames[limit]) << 24U) |
                              (std::to_integer<std::size_t>(frames[limit + 1]) << 16U) |
                              (std::to_integer<std::size_t>(frames[limit + 2]) << 8U) |
                              std::to_integer<std::size_t>(frames[limit + 3]));
    }
    if (last_frame_end(frames, consumed) != consumed || consumed > limit) {
      violation("peer " + std::to_string(index) + ": the drain stopped at " +
                std::to_string(consumed) + ", not at the end of the frame begun (" +
                std::to_string(limit) + ")");
    }
  }
}

void Run::check_step() {
  const ServerOptions& o = setup_.server;
  if (rig_->limit().open() > o.max_conns) {
    violation("connections open " + std::to_string(rig_->limit().open()) + " > max-conns " +
              std::to_string(o.max_conns));
  }
  // §6.2 and issue 19's bound: the cap, plus what one callback sends (an
  // echo of one read; one whole frame, echoed; one reply).
  std::size_t one_callback = o.read_chunk + kHeaderSize;
  if (setup_.service == Service::echo_frames) one_callback = largest_frame_ + kHeaderSize;
  if (setup_.service == Service::big_reply) one_callback = setup_.reply.size() + kHeaderSize;
  const std::size_t bound = o.backlog_cap + one_callback;
  const TimePoint t = now();
  rig_->net().for_each_open([&](const transport::Socket& s, const SimConn& c) {
    if (s.pending() > bound) {
      violation("conn " + std::to_string(c.id) + " holds " + std::to_string(s.pending()) +
                " bytes of output, over the bound " + std::to_string(bound));
    }
    const auto it = facts_.find(c.id);
    const bool closing = it != facts_.end() && it->second.closing;
    if (!closing && c.opened && o.idle_timeout.count() > 0 && t >= c.last_moved + o.idle_timeout) {
      violation("conn " + std::to_string(c.id) + " open " +
                std::to_string(std::chrono::duration_cast<milliseconds>(t - c.last_moved).count()) +
                " ms with no bytes moving (idle timeout " + std::to_string(o.idle_timeout.count()) +
                " ms)");
    }
    if (!closing && c.opened && o.frame_timeout.count() > 0) {
      const std::size_t header = header_of(c.id);
      if (header != SIZE_MAX) {
        const auto& frames = peers_[peer_by_conn_.at(c.id)].script().frames;
        const std::uint64_t consumed = consumed_of_(const_cast<transport::Socket&>(s));
        const std::size_t start = last_frame_end(frames, consumed);
        if (start < consumed) {
          const TimePoint began = first_read_past(c, start);
          const loop::Duration ran = t - began - paused_between(c, began, t);
          if (began != TimePoint::max() && ran > o.frame_timeout + milliseconds(1)) {
            violation("conn " + std::to_string(c.id) + " has had a frame in progress for " +
                      std::to_string(std::chrono::duration_cast<milliseconds>(ran).count()) +
                      " ms of the peer's time (frame timeout " +
                      std::to_string(o.frame_timeout.count()) + " ms)");
          }
        }
      }
    }
    if (!closing && c.opened && o.proxy_protocol && o.proxy_timeout.count() > 0 &&
        (it == facts_.end() || !it->second.header_done) && t >= c.accepted_at + o.proxy_timeout) {
      violation(
          "conn " + std::to_string(c.id) + " still awaits its PROXY header " +
          std::to_string(std::chrono::duration_cast<milliseconds>(t - c.accepted_at).count()) +
          " ms after the accept (timeout " + std::to_string(o.proxy_timeout.count()) + " ms)");
    }
    if (c.fin_delivered && c.s2c_send.empty() && t > c.fin_delivered_at + std::chrono::seconds(1)) {
      // §6.8: once the peer has every byte and the FIN, the close is due
      // (the kernel is asked every 100 ms).
      violation(
          "conn " + std::to_string(c.id) + " still open " +
          std::to_string(std::chrono::duration_cast<milliseconds>(t - c.fin_delivered_at).count()) +
          " ms after its peer had every byte and the FIN");
    }
    if (!closing && c.opened && it != facts_.end() && it->second.consumed_at_drain != UINT64_MAX) {
      // §6.7: with no frame begun when the drain began, the close begins at once.
      const std::size_t header = header_of(c.id);
      const std::uint64_t at = it->second.consumed_at_drain;
      const bool in_frame =
          header != SIZE_MAX &&
          last_frame_end(peers_[peer_by_conn_.at(c.id)].script().frames, at) != at;
      if (!in_frame) {
        violation("conn " + std::to_string(c.id) +
                  " had no frame begun when the drain began, "
                  "yet is not closing");
      }
    }
    if (closing && t > it->second.closing_since + o.linger_time) {
      violation(
          "conn " + std::to_string(c.id) + " still open " +
          std::to_string(
              std::chrono::duration_cast<milliseconds>(t - it->second.closing_since).count()) +
          " ms after its close began (linger time " + std::to_string(o.linger_time.count()) +
          " ms)");
    }
  });
  if (drain_begun_ && !rig_->done() && t > drain_deadline_) {
    violation("the drain is still running past its timeout");
  }
  for (auto& p : peers_) check_peer(p);
}

void Run::check_end() {
  const auto& net = rig_->net();
  const auto& counters = rig_->worker().counters();
  std::uint64_t opened = 0;
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  for (std::size_t id = 0; id < net.conn_count(); ++id) {
    const SimConn& c = net.conn(id);
    if (c.opened) ++opened;
    frames += c.frames_written;
    bytes += c.written;
    if (c.phase == SimConn::Phase::accepted && !c.server_closed) {
      violation("conn " + std::to_string(id) + " was never closed");
    }
  }
  // §6.9 and the counters.
  if (counters.accepted.load() != opened) {
    violation("counter accepted " + std::to_string(counters.accepted.load()) + ", but " +
              std::to_string(opened) + " connections were kept");
  }
  if (counters.refused.load() != net.refused_at_accept() + net.shed()) {
    violation("counter refused " + std::to_string(counters.refused.load()) + ", but " +
              std::to_string(net.refused_at_accept() + net.shed()) + " were refused");
  }
  if (counters.frames_echoed.load() != frames) {
    violation("counter frames echoed " + std::to_string(counters.frames_echoed.load()) + ", but " +
              std::to_string(frames) + " frames were written whole");
  }
  if (counters.bytes_echoed.load() != bytes) {
    violation("counter bytes echoed " + std::to_string(counters.bytes_echoed.load()) + ", but " +
              std::to_string(bytes) + " bytes were written");
  }
  if (counters.open.load() != 0)
    violation("counter open is " + std::to_string(counters.open.load()) + " at the end");
}

Outcome Run::go() {
  out_.seed = seed_;
  out_.setup = describe(setup_);
  BuggifyScope buggify(&rng_);
  rig_ = std::make_unique<Rig>(setup_.server, &rng_, setup_.net, service_handlers(setup_));
  util::set_log_sink(&Run::log_sink, this);
  t0_ = now();
  trace("seed " + std::to_string(seed_) + ": " + out_.setup);
  SimTransport& net = rig_->net();
  net.set_tracer([this](const std::string& line) { trace(line); });
  consumed_of_ = [](transport::Socket& s) -> std::uint64_t {
    const auto* c = static_cast<const core::Conn*>(s.owner);
    return c == nullptr ? 0 : c->consumed_input();
  };
  net.set_consumed_of(consumed_of_);
  net.on_server_close([this](SimConn& c) { on_close(c); });
  net.on_server_reset([this](SimConn& c) { on_late_reset(c); });
  net.on_queue_reset([this](std::size_t n) {
    violation("the listener closed with " + std::to_string(n) +
              " connection(s) queued: their handshakes completed, then a reset");
  });
  peers_.reserve(setup_.peers);
  for (std::size_t i = 0; i < setup_.peers; ++i) {
    // About 2,000 reads' worth per peer at most, and never more than the
    // smallest buffer 300 times over: a run stays a fraction of a second.
    const std::size_t budget = std::min<std::size_t>(
        {300U << 10U, std::max<std::size_t>(64, setup_.server.read_chunk * 2000),
         std::min(setup_.net.server_sndbuf, setup_.net.peer_rcvbuf) * 300});
    Script script = draw_script(rng_, setup_.server, budget);
    if (setup_.server.proxy_protocol) script.header = draw_proxy_header(rng_, i);
    for (std::size_t pos = 0; pos + kHeaderSize <= script.frames.size();) {
      const std::size_t len = (std::to_integer<std::size_t>(script.frames[pos]) << 24U) |
                              (std::to_integer<std::size_t>(script.frames[pos + 1]) << 16U) |
                              (std::to_integer<std::size_t>(script.frames[pos + 2]) << 8U) |
                              std::to_integer<std::size_t>(script.frames[pos + 3]);
      if (len > setup_.server.max_frame) break;
      largest_frame_ = std::max(largest_frame_, len);
      pos += kHeaderSize + len;
    }
    peers_.emplace_back(i, std::move(script), t0_ + script.start);
  }
  judged_end_.assign(peers_.size(), false);
  prefix_checked_.assign(peers_.size(), 0);
  std::size_t next_failure = 0;
  const TimePoint give_up =
      t0_ + setup_.drain_at + setup_.server.drain_timeout + std::chrono::minutes(2);
  std::vector<std::string> lines;
  for (; out_.steps < 2'000'000 && !rig_->done(); ++out_.steps) {
    const TimePoint t = now();
    if (t > give_up) {
      violation("the simulation did not end: liveness");
      break;
    }
    bool all_done = true;
    for (const auto& p : peers_) all_done = all_done && p.finished();
    if (!drain_begun_ && (t >= t0_ + setup_.drain_at || all_done)) {
      drain_begun_ = true;
      drain_deadline_ = t + setup_.server.drain_timeout;
      trace("SIGINT: the drain begins, due by +" +
            std::to_string(setup_.server.drain_timeout.count()) + " ms");
      server::Worker& w = rig_->worker();
      const TimePoint deadline = drain_deadline_;
      w.post([this, &w, deadline] {
        // Where each connection stood when the drain began: it may read on
        // to the end of that frame, no further (§6.7).
        rig_->net().for_each_open([this](const transport::Socket& sock, const SimConn& c) {
          facts_[c.id].consumed_at_drain = consumed_of_(const_cast<transport::Socket&>(sock));
        });
        w.begin_shutdown(deadline);
      });
    }
    while (next_failure < setup_.accept_failures.size() &&
           t >= t0_ + setup_.accept_failures[next_failure]) {
      trace("the next accept fails with errno " +
            std::to_string(setup_.accept_errors[next_failure]));
      net.fail_next_accept(setup_.accept_errors[next_failure]);
      ++next_failure;
    }
    for (auto& p : peers_) {
      if (p.next() <= t) {
        lines.clear();
        (void)p.act(t, net, rng_, lines);
        for (const auto& l : lines) trace(l);
        if (p.connected()) peer_by_conn_[p.conn()] = static_cast<std::size_t>(&p - peers_.data());
      }
    }
    for (std::size_t id = 0; id < net.conn_count(); ++id) net.deliver(id);
    rig_->settle();
    check_step();
    if (rig_->done()) break;
    TimePoint next = rig_->next_timer();
    for (const auto& p : peers_) next = std::min(next, p.next());
    if (!drain_begun_) next = std::min(next, t0_ + setup_.drain_at);
    if (drain_begun_) next = std::min(next, drain_deadline_ + std::chrono::microseconds(1));
    if (next_failure < setup_.accept_failures.size()) {
      next = std::min(next, t0_ + setup_.accept_failures[next_failure]);
    }
    if (next <= t) next = t + std::chrono::microseconds(100);
    rig_->clock().advance_to(next);
  }
  teardown_ = true;
  // The peers read what is left, then the oracle's last word.
  for (auto& p : peers_) {
    if (p.connected() && !p.finished()) {
      lines.clear();
      (void)p.act(now(), net, rng_, lines);
    }
  }
  check_step();
  check_end();
  out_.buggified = buggify.fired();
  rig_.reset();
  util::set_log_sink(nullptr, nullptr);
  return out_;
}

}  // namespace

Outcome run(std::uint64_t seed, const RunOptions& options) {
  Run r(seed, options);
  return r.go();
}

}  // namespace framed::sim
