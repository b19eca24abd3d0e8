// framed-server's event loop: one thread, poll(), non-blocking sockets.
//
// The loop owns the listener and every connection. It moves bytes between
// sockets and each connection's EchoSession, enforces the timeouts, the
// connection limit and backpressure, and drains on SIGINT/SIGTERM. It knows
// nothing of frames beyond the session and decoder APIs.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "net/fd.h"
#include "net/socket.h"
#include "server/config.h"
#include "server/echo_session.h"
#include "server/signals.h"

namespace framed::server {

using Clock = std::chrono::steady_clock;

struct Counters {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;          // Over --max-conns, or shed on EMFILE.
  std::uint64_t timed_out = 0;        // Idle or frame timeout.
  std::uint64_t protocol_errors = 0;  // Oversize length.
  std::uint64_t frames_echoed = 0;  // Frames whose last byte was written.
  std::uint64_t bytes_echoed = 0;   // Bytes written to sockets.
};

class Server {
 public:
  // Takes a listening socket (non-blocking) and the settings; `max_conns` in
  // `config` is the effective limit after any RLIMIT_NOFILE adjustment.
  Server(net::UniqueFd listener, const Config& config);
  ~Server() = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Installs the signal handlers (SIGINT, SIGTERM, SIGUSR1; SIGPIPE ignored).
  // Returns the failing call, if any.
  net::SysError install_signals() { return signals_.install(); }

  // Runs until shutdown completes. Returns the process exit status: 0 after
  // a drain (even a forced one), 1 after a second signal or a fatal error.
  int run();

  // Logs the counters at info level.
  void log_counters(const char* when) const;

 private:
  enum class Phase {
    open,     // Reading and echoing.
    closing,  // No more input is echoed; flushing the backlog.
    linger,   // Write side shut down; discarding input until the peer has
              // everything we sent, or sends EOF, or stops making progress.
  };

  struct Conn {
    net::UniqueFd fd;
    std::uint64_t id = 0;
    std::string peer;
    EchoSession session;
    Phase phase = Phase::open;
    bool peer_eof = false;  // The peer will send no more.
    bool draining = false;  // Shutdown: read only to the end of this frame.
    // Bytes moved either way (read, written, or acknowledged by the peer):
    // the idle timeout counts from here.
    Clock::time_point last_activity;
    // Our output moved (written, or acknowledged by the peer): a closing
    // connection's no-progress bound counts from here.
    Clock::time_point last_progress;
    Clock::time_point frame_started;
    bool frame_open = false;
    // Backpressure: the server stopped reading this peer at the backlog cap.
    // The frame timeout measures the peer, so it is paused meanwhile.
    bool paused = false;
    Clock::time_point paused_since;
    Clock::time_point closing_since;
    Clock::time_point next_check;  // Linger: when to ask the kernel again.
    std::uint64_t written = 0;     // Bytes written to the socket.
    std::uint64_t acked = 0;       // Of those, acknowledged as last seen.
    Clock::time_point scheduled = Clock::time_point::max();  // Timer entry.

    Conn(net::UniqueFd f, std::uint64_t i, std::string p, std::uint32_t max_frame)
        : fd(std::move(f)), id(i), peer(std::move(p)), session(max_frame) {}
  };

  struct Timer {
    Clock::time_point when;
    std::size_t slot;
    std::uint64_t id;
    bool operator>(const Timer& o) const { return when > o.when; }
  };

  // Accepts up to `budget` pending connections (until EAGAIN).
  void accept_ready(Clock::time_point now, int budget);
  void shed_for_emfile(Clock::time_point now, int err);
  void handle_signals(Clock::time_point now);
  void begin_shutdown(Clock::time_point now);

  void on_readable(std::size_t slot, Clock::time_point now);
  void on_writable(std::size_t slot, Clock::time_point now);
  // Sends the echo of one read: directly when nothing is queued, queueing
  // whatever the socket does not take. Returns false if the connection died.
  bool echo(std::size_t slot, std::span<const std::byte> prefix, std::span<const std::byte> bytes,
            Clock::time_point now);
  // Writes what the session has pending; closes the connection on a write
  // error. Returns false if the connection is gone.
  bool flush(std::size_t slot, Clock::time_point now);
  // Accounts for `n` bytes written from `first` then `second`.
  void wrote(Conn& c, std::span<const std::byte> first, std::span<const std::byte> second,
             std::size_t n, Clock::time_point now);
  // Asks the kernel how much of our output the peer has acknowledged; moves
  // the activity and progress clocks if that grew. Sets `unacked` (SIZE_MAX
  // when the kernel cannot tell). Returns true on progress.
  bool observe_acks(Conn& c, Clock::time_point now, std::size_t& unacked);
  void begin_close(Conn& c, Clock::time_point now, const std::string& why, util::LogLevel level);
  // After a flush: moves closing connections on (shutdown, linger, close).
  void advance_close(std::size_t slot, Clock::time_point now);
  void close_now(std::size_t slot, const std::string& why, util::LogLevel level);

  [[nodiscard]] Clock::time_point deadline(const Conn& c) const;
  // After events on a connection: tracks backpressure, then its timer.
  void settle(std::size_t slot, Clock::time_point now);
  void reschedule(std::size_t slot);
  void expire_timers(Clock::time_point now);
  [[nodiscard]] int poll_timeout(Clock::time_point now) const;
  void build_pollfds();
  [[nodiscard]] bool wants_read(const Conn& c) const;

  Config config_;
  net::UniqueFd listener_;
  net::UniqueFd spare_fd_;  // Released to shed a connection on EMFILE.
  SignalWatch signals_;
  std::vector<std::unique_ptr<Conn>> slots_;
  std::vector<std::size_t> free_slots_;
  std::size_t open_conns_ = 0;
  std::uint64_t next_id_ = 1;
  std::vector<std::byte> read_buf_;
  std::vector<pollfd> pollfds_;
  std::vector<std::size_t> pollfd_slot_;  // pollfds_[i] serves slots_[pollfd_slot_[i]].
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;

  Clock::time_point accept_paused_until{};
  Clock::time_point last_refuse_log{};
  std::uint64_t refusals_unlogged_ = 0;
  bool shutting_down_ = false;
  bool exit_now_ = false;
  Clock::time_point drain_deadline_{};
  Counters counters_;
};

}  // namespace framed::server
