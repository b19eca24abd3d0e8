#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "util/log.h"

namespace framed::server {
namespace {

using util::log;
using util::LogLevel;

// The write end of the self-pipe. A signal handler may only touch
// async-signal-safe state, so this is a plain int set once at start-up.
int g_signal_fd = -1;

extern "C" void on_signal(int signo) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(signo);
  // If the pipe is full a signal is already pending; losing this byte is fine.
  [[maybe_unused]] const ssize_t n = ::write(g_signal_fd, &byte, 1);
  errno = saved;
}

std::string hex_header(std::uint32_t length) {
  const auto h = encode_header(length);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02x %02x %02x %02x", std::to_integer<unsigned>(h[0]),
                std::to_integer<unsigned>(h[1]), std::to_integer<unsigned>(h[2]),
                std::to_integer<unsigned>(h[3]));
  return buf;
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

constexpr std::chrono::milliseconds kAcceptPause{100};
constexpr std::chrono::seconds kRefuseLogInterval{1};
constexpr int kMaxAcceptsPerWake = 64;
constexpr int kMaxReadsPerWake = 4;

}  // namespace

Server::Server(net::UniqueFd listener, const Config& config)
    : config_(config), listener_(std::move(listener)), read_buf_(config.read_chunk) {
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

Server::~Server() {
  if (g_signal_fd == signal_write_.get()) g_signal_fd = -1;
}

net::SysError Server::install_signals() {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {"pipe2", errno};
  signal_read_.reset(fds[0]);
  signal_write_.reset(fds[1]);
  g_signal_fd = fds[1];

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // No SA_RESTART: poll() returns EINTR and we look at once.
  for (int signo : {SIGINT, SIGTERM, SIGUSR1}) {
    if (sigaction(signo, &sa, nullptr) != 0) return {"sigaction", errno};
  }
  // A peer that vanishes must cost an EPIPE, not the process.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (sigaction(SIGPIPE, &ignore, nullptr) != 0) return {"sigaction", errno};
  return {};
}

void Server::log_counters(const char* when) const {
  log(LogLevel::info,
      std::string("counters (") + when + "): accepted " + std::to_string(counters_.accepted) +
          ", refused " + std::to_string(counters_.refused) + ", timed out " +
          std::to_string(counters_.timed_out) + ", protocol errors " +
          std::to_string(counters_.protocol_errors) + ", frames echoed " +
          std::to_string(counters_.frames_echoed) + ", bytes echoed " +
          std::to_string(counters_.bytes_echoed) + ", open " + std::to_string(open_conns_));
}

int Server::run() {
  while (!exit_now_) {
    auto now = Clock::now();
    if (shutting_down_) {
      if (open_conns_ == 0) {
        log(LogLevel::info, "shutdown complete: all connections closed");
        break;
      }
      if (now >= drain_deadline_) {
        log(LogLevel::warn, "drain timeout " + ms_text(config_.drain_timeout) +
                                " expired: force-closing " + std::to_string(open_conns_) +
                                " connection(s)");
        for (std::size_t s = 0; s < slots_.size(); ++s) {
          if (slots_[s]) close_now(s, "drain timeout", LogLevel::debug);
        }
        break;
      }
    }
    build_pollfds();
    const int rc = ::poll(pollfds_.data(), pollfds_.size(), poll_timeout(now));
    if (rc < 0) {
      if (errno == EINTR) continue;
      log(LogLevel::error, net::SysError{"poll", errno}.message());
      return 1;
    }
    now = Clock::now();
    // pollfds_[0] is the signal pipe, pollfds_[1] the listener (or unused).
    if (pollfds_[0].revents != 0) handle_signal_pipe(now);
    if (exit_now_) break;
    if (pollfds_[1].fd >= 0 && pollfds_[1].revents != 0 && listener_) accept_ready(now);
    for (std::size_t i = 2; i < pollfds_.size(); ++i) {
      const short ev = pollfds_[i].revents;
      if (ev == 0) continue;
      const std::size_t slot = pollfd_slot_[i];
      if (!slots_[slot] || slots_[slot]->fd.get() != pollfds_[i].fd) continue;
      // POLLERR/POLLHUP: let read() or send() report what happened.
      if ((ev & (POLLIN | POLLHUP | POLLERR)) != 0) on_readable(slot, now);
      if (slots_[slot] && (ev & (POLLOUT | POLLERR)) != 0) on_writable(slot, now);
      if (slots_[slot]) reschedule(slot);
    }
    expire_timers(now);
  }
  if (exit_now_) {
    log(LogLevel::warn, "second signal: exiting at once with " + std::to_string(open_conns_) +
                            " connection(s) open");
    log_counters("exit");
    return 1;
  }
  log_counters("exit");
  return 0;
}

void Server::build_pollfds() {
  pollfds_.clear();
  pollfd_slot_.clear();
  pollfds_.push_back({signal_read_.get(), POLLIN, 0});
  const bool accepting = listener_ && Clock::now() >= accept_paused_until;
  pollfds_.push_back({accepting ? listener_.get() : -1, POLLIN, 0});
  pollfd_slot_.assign(2, 0);
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    const Conn* c = slots_[s].get();
    if (c == nullptr) continue;
    short events = 0;
    if (wants_read(*c)) events |= POLLIN;
    if (c->session.pending_bytes() > 0) events |= POLLOUT;
    pollfds_.push_back({c->fd.get(), events, 0});
    pollfd_slot_.push_back(s);
  }
}

bool Server::wants_read(const Conn& c) const {
  if (c.peer_eof) return false;
  if (c.phase == Phase::linger) return true;
  // Backpressure: a client that does not read its echoes stops being read.
  return c.phase == Phase::open && c.session.pending_bytes() < config_.backlog_cap;
}

int Server::poll_timeout(Clock::time_point now) const {
  auto next = Clock::time_point::max();
  if (!timers_.empty()) next = timers_.top().when;
  if (shutting_down_) next = std::min(next, drain_deadline_);
  if (listener_ && accept_paused_until > now) next = std::min(next, accept_paused_until);
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  // Round up so we never wake a hair early and spin until the deadline.
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<std::int64_t>(wait, 60'000));
}

void Server::handle_signal_pipe(Clock::time_point now) {
  unsigned char buf[64];
  for (;;) {
    const ssize_t n = ::read(signal_read_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    for (ssize_t i = 0; i < n; ++i) {
      const int signo = buf[i];
      if (signo == SIGUSR1) {
        log_counters("SIGUSR1");
      } else if (shutting_down_) {
        exit_now_ = true;
      } else {
        log(LogLevel::info, std::string("received ") + (signo == SIGINT ? "SIGINT" : "SIGTERM"));
        begin_shutdown(now);
      }
    }
  }
}

void Server::begin_shutdown(Clock::time_point now) {
  shutting_down_ = true;
  drain_deadline_ = now + config_.drain_timeout;
  // Closing the listener first means new clients are refused by the kernel
  // rather than accepted and dropped.
  listener_.reset();
  log(LogLevel::info, "shutting down: listener closed, draining " + std::to_string(open_conns_) +
                          " connection(s) within " + ms_text(config_.drain_timeout));
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    Conn* c = slots_[s].get();
    if (c == nullptr || c->phase != Phase::open) continue;
    if (c->session.in_frame()) {
      c->draining = true;  // Read on to the end of this frame only.
    } else {
      begin_close(*c, now, "server shutting down", LogLevel::debug);
      advance_close(s, now);
    }
  }
}

void Server::accept_ready(Clock::time_point now) {
  for (int i = 0; i < kMaxAcceptsPerWake && listener_; ++i) {
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
      accept_paused_until = now + kAcceptPause;
      return;
    }
    net::UniqueFd conn_fd(fd);
    if (open_conns_ >= config_.max_conns) {
      // Accept-and-close, so the client learns at once instead of waiting in
      // the backlog.
      ++counters_.refused;
      ++refusals_unlogged_;
      if (now - last_refuse_log >= kRefuseLogInterval) {
        log(LogLevel::warn, "connection limit " + std::to_string(config_.max_conns) +
                                " reached: refused " + std::to_string(refusals_unlogged_) +
                                " connection(s)");
        last_refuse_log = now;
        refusals_unlogged_ = 0;
      }
      continue;
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
    slots_[slot] =
        std::make_unique<Conn>(std::move(conn_fd), next_id_++, peer.to_string(), config_.max_frame);
    slots_[slot]->last_activity = now;
    ++open_conns_;
    ++counters_.accepted;
    log(LogLevel::debug, "conn " + slots_[slot]->peer + " accepted");
    reschedule(slot);
  }
}

void Server::shed_for_emfile(Clock::time_point now, int err) {
  // Out of descriptors: the pending connection would make poll() report the
  // listener readable forever. Free the spare descriptor, accept and close
  // the connection, take the spare back, and pause accepting for a moment.
  spare_fd_.reset();
  const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    ++counters_.refused;
  }
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  accept_paused_until = now + kAcceptPause;
  ++refusals_unlogged_;
  if (now - last_refuse_log >= kRefuseLogInterval) {
    log(LogLevel::warn, net::SysError{"accept4", err}.message() + ": shed " +
                            std::to_string(refusals_unlogged_) +
                            " connection(s), pausing accepts for " + ms_text(kAcceptPause));
    last_refuse_log = now;
    refusals_unlogged_ = 0;
  }
}

void Server::on_readable(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  for (int i = 0; i < kMaxReadsPerWake && wants_read(c); ++i) {
    const net::IoResult r = net::read_some(c.fd.get(), read_buf_);
    if (!r.error.ok()) {
      close_now(slot, r.error.message(), LogLevel::info);
      return;
    }
    if (r.would_block) break;
    if (r.eof) {
      c.peer_eof = true;
      if (c.phase == Phase::linger) {
        close_now(slot, "closed after linger", LogLevel::debug);
        return;
      }
      const std::uint64_t at = c.session.decoder().offset();
      if (c.session.in_frame()) {
        begin_close(c, now, "peer closed mid-frame at stream offset " + std::to_string(at),
                    LogLevel::info);
      } else {
        begin_close(c, now, "peer closed", LogLevel::debug);
      }
      break;
    }
    c.last_activity = now;
    if (c.phase == Phase::linger) continue;  // Discarded on purpose.

    const auto got = std::span<const std::byte>(read_buf_.data(), r.bytes);
    const auto frames_before = c.session.frames_done();
    const auto used = c.session.consume(got, c.draining);
    counters_.frames_echoed += c.session.frames_done() - frames_before;
    if (!echo(slot, used.prefix, used.echo, now)) return;
    if (used.error != DecodeError::none) {
      ++counters_.protocol_errors;
      const auto length = c.session.decoder().frame_length();
      begin_close(c, now,
                  "protocol error: " + std::string(to_string(used.error)) + " (length " +
                      std::to_string(length) + " > limit " + std::to_string(config_.max_frame) +
                      ", header " + hex_header(length) + ") at stream offset " +
                      std::to_string(c.session.decoder().error_offset()),
                  LogLevel::warn);
      break;
    }
    if (c.draining && !c.session.in_frame()) {
      begin_close(c, now, "server shutting down (frame in progress finished)", LogLevel::debug);
      break;
    }
    // The frame timer runs from the first byte of the frame now in progress;
    // a frame that ended and another that began in this read restart it.
    if (!c.session.in_frame()) {
      c.frame_open = false;
    } else if (!c.frame_open || c.session.frames_done() != frames_before) {
      c.frame_open = true;
      c.frame_started = now;
    }
    // A short read drained the socket: reading again would only return
    // EAGAIN, one wasted syscall per wake-up. poll() reports new data.
    if (r.bytes < read_buf_.size()) break;
  }
  if (slots_[slot] && slots_[slot]->phase != Phase::open) {
    if (flush(slot, now)) advance_close(slot, now);
  }
}

void Server::on_writable(std::size_t slot, Clock::time_point now) {
  if (!flush(slot, now)) return;
  advance_close(slot, now);
}

bool Server::echo(std::size_t slot, std::span<const std::byte> prefix,
                  std::span<const std::byte> bytes, Clock::time_point now) {
  Conn& c = *slots_[slot];
  if (prefix.empty() && bytes.empty()) return true;
  if (c.session.pending_bytes() > 0) {
    // Order matters: behind a backlog, the echo waits its turn.
    c.session.queue(prefix);
    c.session.queue(bytes);
    return flush(slot, now);
  }
  // The common case: write straight from the read buffer, in the same
  // wake-up, and copy only what the socket would not take.
  const net::IoResult r = net::write_pair(c.fd.get(), prefix, bytes);
  if (!r.error.ok()) {
    close_now(slot, r.error.message(), LogLevel::info);
    return false;
  }
  if (r.bytes > 0) {
    counters_.bytes_echoed += r.bytes;
    c.last_activity = now;
  }
  const std::size_t from_prefix = std::min(r.bytes, prefix.size());
  c.session.queue(prefix.subspan(from_prefix));
  c.session.queue(bytes.subspan(r.bytes - from_prefix));
  return true;
}

bool Server::flush(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  while (c.session.pending_bytes() > 0) {
    const net::IoResult r = net::write_some(c.fd.get(), c.session.pending());
    if (!r.error.ok()) {
      close_now(slot, r.error.message(), LogLevel::info);
      return false;
    }
    if (r.would_block) break;
    const bool partial = r.bytes < c.session.pending_bytes();
    c.session.mark_written(r.bytes);
    counters_.bytes_echoed += r.bytes;
    c.last_activity = now;
    // A short write means the socket buffer is full; the next send() would
    // fail with EAGAIN. Wait for POLLOUT instead.
    if (partial) break;
  }
  return true;
}

void Server::begin_close(Conn& c, Clock::time_point now, const std::string& why, LogLevel level) {
  if (c.phase != Phase::open) return;
  c.phase = Phase::closing;
  c.draining = false;
  c.frame_open = false;
  c.last_activity = now;
  log(level, "conn " + c.peer + " closing: " + why);
}

void Server::advance_close(std::size_t slot, Clock::time_point now) {
  Conn& c = *slots_[slot];
  if (c.phase != Phase::closing || c.session.pending_bytes() > 0) return;
  if (c.peer_eof) {
    close_now(slot, "closed", LogLevel::debug);
    return;
  }
  // The peer may still be sending. close() with unread input sends RST, and
  // the peer's kernel may then discard echoes it has not yet read. Shut down
  // our write side instead (FIN after the echoes) and drain input briefly.
  ::shutdown(c.fd.get(), SHUT_WR);
  c.phase = Phase::linger;
  c.linger_until = now + config_.linger_timeout;
  reschedule(slot);
}

void Server::close_now(std::size_t slot, const std::string& why, LogLevel level) {
  Conn& c = *slots_[slot];
  log(level, "conn " + c.peer + " " + why);
  slots_[slot].reset();
  free_slots_.push_back(slot);
  --open_conns_;
}

Clock::time_point Server::deadline(const Conn& c) const {
  auto d = Clock::time_point::max();
  if (c.phase == Phase::linger) return c.linger_until;
  if (config_.idle_timeout.count() > 0) d = c.last_activity + config_.idle_timeout;
  if (c.phase == Phase::closing) {
    // A closing peer that reads nothing must not hold the slot forever.
    d = std::min(d, c.last_activity + std::max(config_.linger_timeout, config_.drain_timeout));
  }
  if (c.frame_open && config_.frame_timeout.count() > 0) {
    d = std::min(d, c.frame_started + config_.frame_timeout);
  }
  return d;
}

void Server::reschedule(std::size_t slot) {
  Conn& c = *slots_[slot];
  const auto d = deadline(c);
  // Later deadlines are found lazily when the earlier entry fires, so the
  // common case (activity pushing the idle deadline back) costs nothing.
  if (d < c.scheduled) {
    c.scheduled = d;
    timers_.push({d, slot, c.id});
  }
}

void Server::expire_timers(Clock::time_point now) {
  while (!timers_.empty() && timers_.top().when <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    Conn* c = slots_[t.slot].get();
    if (c == nullptr || c->id != t.id || c->scheduled != t.when) continue;  // Stale.
    c->scheduled = Clock::time_point::max();
    const auto d = deadline(*c);
    if (d > now) {
      c->scheduled = d;
      timers_.push({d, t.slot, c->id});
      continue;
    }
    if (c->phase == Phase::linger) {
      close_now(t.slot, "closed after linger timeout", LogLevel::debug);
    } else if (c->phase == Phase::closing) {
      close_now(t.slot, "closed: peer stopped reading while closing", LogLevel::info);
    } else if (c->frame_open && config_.frame_timeout.count() > 0 &&
               now >= c->frame_started + config_.frame_timeout) {
      ++counters_.timed_out;
      begin_close(*c, now,
                  "frame timeout: frame incomplete " + ms_text(config_.frame_timeout) +
                      " after its first byte (stream offset " +
                      std::to_string(c->session.decoder().offset()) + ")",
                  LogLevel::info);
      advance_close(t.slot, now);
      if (slots_[t.slot]) reschedule(t.slot);
    } else {
      ++counters_.timed_out;
      close_now(t.slot, "closed: idle timeout " + ms_text(config_.idle_timeout), LogLevel::info);
    }
  }
}

}  // namespace framed::server
