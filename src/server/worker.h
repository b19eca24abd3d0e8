// One event loop on one thread: framed-server's connection logic, written
// once for every backend. A Worker owns its listener (or none), its
// connections and a Poller; it moves bytes between sockets and each
// connection's EchoSession, enforces the timeouts, backpressure and the
// closing rules (spec/PROTOCOL.md §6), and drains on request. It knows
// nothing of frames beyond the session and decoder APIs, and nothing of
// readiness beyond the Poller interface.
//
// Workers share nothing on the hot path: the only shared state is Shared
// (settings, the global connection count, the shutdown flags) and each
// worker's own Counters, written by that worker alone.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "framed/proxy.h"
#include "framed/server.h"
#include "loop/poller.h"
#include "loop/uring.h"
#include "net/cidr.h"
#include "net/fd.h"
#include "net/socket.h"
#include "server/config.h"
#include "server/session.h"
#include "util/log.h"

namespace framed::server {

using Clock = std::chrono::steady_clock;

// Event counts of one worker. Only the owning worker writes (so a relaxed
// load and store is enough, and no locked instruction is spent); any thread
// may read them for a report.
struct Counters {
  std::atomic<std::uint64_t> accepted{0};
  // Over --max-conns, shed on EMFILE, or outside --proxy-from.
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> timed_out{0};        // Idle or frame timeout.
  std::atomic<std::uint64_t> protocol_errors{0};  // Oversize length, bad PROXY header.
  std::atomic<std::uint64_t> frames_echoed{0};    // Frames whose last byte was written.
  std::atomic<std::uint64_t> bytes_echoed{0};     // Bytes written to sockets.
  std::atomic<std::uint64_t> open{0};             // Connections open now.
};

// State every worker and the signal thread share.
class Shared {
 public:
  explicit Shared(const Config& config) : config_(config) {}

  [[nodiscard]] const Config& config() const noexcept { return config_; }

  // Reserves a slot under the global --max-conns before a connection is
  // kept: exact across workers. Returns false at the limit.
  bool try_reserve() noexcept {
    std::size_t n = open_.load(std::memory_order_relaxed);
    do {
      if (n >= config_.max_conns) return false;
    } while (!open_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
    return true;
  }
  void release() noexcept { open_.fetch_sub(1, std::memory_order_acq_rel); }
  [[nodiscard]] std::size_t open() const noexcept { return open_.load(std::memory_order_acquire); }

  // Set once by the signal thread, then every worker is woken.
  void request_stop(Clock::time_point drain_deadline) noexcept {
    deadline_ns_.store(drain_deadline.time_since_epoch().count(), std::memory_order_relaxed);
    stop_.store(true, std::memory_order_release);
  }
  [[nodiscard]] bool stop_requested() const noexcept {
    return stop_.load(std::memory_order_acquire);
  }
  [[nodiscard]] Clock::time_point drain_deadline() const noexcept {
    return Clock::time_point(Clock::duration(deadline_ns_.load(std::memory_order_relaxed)));
  }
  // A worker has acted on the stop (its listener is closed, its drain has
  // begun); the signal thread waits for all before saying so.
  void ack_stop() noexcept { stop_acks_.fetch_add(1, std::memory_order_acq_rel); }
  [[nodiscard]] std::size_t stop_acks() const noexcept {
    return stop_acks_.load(std::memory_order_acquire);
  }
  // A counters report: the signal thread raises the request, each worker
  // acknowledges it between batches, so the report includes every event a
  // worker finished before it saw the request.
  std::uint64_t request_report() noexcept {
    return report_.fetch_add(1, std::memory_order_acq_rel) + 1;
  }
  [[nodiscard]] std::uint64_t report_requested() const noexcept {
    return report_.load(std::memory_order_acquire);
  }
  void request_exit() noexcept { exit_.store(true, std::memory_order_release); }
  [[nodiscard]] bool exit_requested() const noexcept {
    return exit_.load(std::memory_order_acquire);
  }

 private:
  const Config config_;
  std::atomic<std::size_t> open_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> exit_{false};
  std::atomic<std::size_t> stop_acks_{0};
  std::atomic<std::uint64_t> report_{0};
  std::atomic<Clock::rep> deadline_ns_{0};
};

class Worker final : public Loop {
 public:
  // Takes its readiness backend, or null for io_uring (whose ring, created
  // disabled, is given with set_ring() and enabled by run() on the worker's
  // own thread: a SINGLE_ISSUER ring accepts submissions only from the
  // thread that enabled it), and its listening socket (non-blocking; may be
  // empty for a worker that only serves connections handed to it). The
  // handler is set with set_handler() before init().
  Worker(std::size_t index, Shared& shared, std::unique_ptr<loop::Poller> poller,
         net::UniqueFd listener);
  void set_handler(std::unique_ptr<Handler> handler) { handler_ = std::move(handler); }
  void set_ring(std::unique_ptr<loop::Ring> ring) { ring_ = std::move(ring); }
  ~Worker() = default;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the wake-up eventfd and registers it and the listener with the
  // backend (or arms their requests on the ring). Returns the failing call,
  // if any. Call before run().
  net::SysError init();

  // Runs until this worker has drained (returns 0), or an exit is requested
  // or a fatal error occurs (returns 1). Call on the worker's own thread.
  int run();

  // Wakes the worker's wait from any thread, so it looks at Shared's flags.
  void wake() noexcept;

  [[nodiscard]] const Counters& counters() const noexcept { return counters_; }
  // The last report request this worker acknowledged (see Shared).
  [[nodiscard]] std::uint64_t report_acked() const noexcept {
    return report_ack_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::size_t worker_index() const noexcept { return index_; }

 private:
  friend class framed::Connection;
  friend class framed::Loop;

  enum class Phase {
    open,     // Reading and echoing.
    closing,  // No more input is echoed; flushing the backlog.
    linger,   // Write side shut down; discarding input until the peer has
              // everything we sent, or sends EOF, or stops making progress.
  };

  struct Conn final : Connection {
    net::UniqueFd fd;
    std::size_t slot = 0;
    Session session;
    std::vector<std::byte> frame_buf;  // Delivery::frames: the frame so far.
    bool dirty = false;                // Queued output or a close to act on.
    bool destroying = false;           // In on_close: sends are ignored.
    Phase phase = Phase::open;
    unsigned interest = loop::kNone;  // As registered with the backend.
    bool peer_eof = false;            // The peer will send no more.
    bool draining = false;            // Shutdown: read only to the end of this frame.
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
    // --proxy-protocol: the header is still due. Until it is complete the
    // handler has not seen the connection (on_open comes after it, with the
    // client's address as the peer), and its bytes never reach the session.
    bool awaiting_proxy = false;
    bool opened = false;  // on_open was called, so on_close will be.
    Clock::time_point proxy_deadline;
    ProxyParser proxy;
    Clock::time_point scheduled = Clock::time_point::max();  // Timer entry.

    // io_uring only (worker_uring.cc). Requests in flight reference the
    // descriptor and the pinned backlog, so a closed connection lives on
    // (as a zombie, out of its slot) until the last one completes.
    bool recv_armed = false;       // A receive is outstanding.
    bool recv_cancelling = false;  // ... and a cancel of it was asked for.
    bool recv_starved = false;     // Ended by -ENOBUFS: queued for a re-arm.
    bool send_inflight = false;    // One send at a time: order is kept.
    unsigned inflight = 0;         // Requests whose last completion is due.
    // Echoes to send straight from provided buffers (at most one today),
    // ahead of the session's backlog (queued while it was empty); the send
    // in flight, if sending_held, is the first one's. A buffer is recycled
    // once its bytes are all sent; a short send continues from it.
    struct Held {
      std::uint16_t buffer;
      std::span<const std::byte> bytes;  // Not yet sent.
    };
    std::vector<Held> held;
    std::size_t held_bytes = 0;
    bool sending_held = false;

    // The client's address from a PROXY header names the connection from
    // now on, for the worker's logs and the handler's Connection::peer().
    void rename_peer(const std::string& p) { set_peer(p); }

    Conn(Worker* w, net::UniqueFd f, std::uint64_t i, std::size_t s, std::string p,
         std::uint32_t max_frame)
        : Connection(i, std::move(p), w), fd(std::move(f)), slot(s), session(max_frame) {}
  };

  struct Timer {
    Clock::time_point when;
    std::size_t slot;
    std::uint64_t id;
    bool operator>(const Timer& o) const { return when > o.when; }
  };

  // The backend token of a connection: its slot, and the low bits of its id
  // so that a stale event never reaches a new connection in the same slot.
  [[nodiscard]] static std::uint64_t token_of(std::size_t slot, std::uint64_t id) noexcept {
    return (id << 32U) | static_cast<std::uint64_t>(slot);
  }

  // Accepts up to `budget` pending connections (until EAGAIN).
  void accept_ready(Clock::time_point now, int budget);
  void shed_for_emfile(Clock::time_point now, int err);
  void pause_accepting(Clock::time_point until);
  void begin_shutdown(Clock::time_point now);
  void close_listener();

  // What the read path does after one read's bytes.
  enum class Next {
    more,  // Read on (if the socket has more).
    stop,  // Stop reading this wake-up.
    gone,  // The connection was closed and its slot freed.
  };
  void on_readable(std::size_t slot, Clock::time_point now);
  // One read's bytes (not empty): discarded while lingering, else the PROXY
  // header, then the handler, the batch written, errors and the drain.
  Next on_input(std::size_t slot, std::span<const std::byte> got, Clock::time_point now);
  // The peer sent EOF: the handler hears of it, then the close begins.
  Next on_eof(std::size_t slot, Clock::time_point now);
  // After a read burst: a connection that began closing flushes and moves on.
  void after_input(std::size_t slot, Clock::time_point now);
  void on_writable(std::size_t slot, Clock::time_point now);
  // Adopts a connection the listener accepted (refusing it over the limit
  // or outside --proxy-from) and opens it.
  void adopt(net::UniqueFd fd, const sockaddr_storage& addr, socklen_t len, Clock::time_point now);
  // Hands one read's bytes to the handler as chunks or frames. Returns what
  // the session consumed.
  Session::Consumed deliver(Conn& c, std::span<const std::byte> got);
  // --proxy-protocol: feeds `got` to the connection's header parser and
  // leaves in `got` the bytes after the header (the frame stream's). On
  // the header's end, names the connection after its client and opens it
  // to the handler. Returns false if the connection is closing.
  bool read_proxy_header(Conn& c, std::span<const std::byte>& got, Clock::time_point now);
  void open_to_handler(Conn& c);

  // Connection::send: queues `bytes` for `c`. While `c`'s input is being
  // delivered and nothing is queued before, bytes are gathered into the
  // batch (views of the read buffer where possible) and written by one
  // sendmsg when the read is done; otherwise they join the backlog.
  bool send(Conn& c, std::span<const std::byte> bytes);
  // Writes the batch gathered for the connection being read; what the
  // socket does not take is copied to its backlog. Returns false if the
  // connection died.
  bool flush_batch(std::size_t slot, Clock::time_point now);
  // Connection::close: begins a graceful close, acted on after the
  // handler's callback returns (a handler never sees a connection vanish
  // under it).
  void request_close(Conn& c, std::string_view why);
  void mark_dirty(Conn& c);
  // Flushes and moves on every connection a handler wrote to or closed.
  void process_dirty(Clock::time_point now);
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
  // After events on a connection: tracks backpressure, brings the backend's
  // interest up to date, then its timer.
  void settle(std::size_t slot, Clock::time_point now);
  void reschedule(std::size_t slot);
  void expire_timers(Clock::time_point now);
  [[nodiscard]] int wait_timeout(Clock::time_point now) const;
  [[nodiscard]] bool wants_read(const Conn& c) const;
  // The loop's checks between batches (report, shutdown, drain deadline,
  // accept pause). Returns false with `rc` set when run() must return.
  bool between_batches(Clock::time_point now, int& rc);

  // io_uring: the completion side of the same loop (worker_uring.cc).
  [[nodiscard]] bool uring() const noexcept { return poller_ == nullptr; }
  net::SysError uring_init();
  int uring_run();
  void uring_arm_accept();
  void uring_stop_accept();
  void uring_on_completion(const loop::Completion& done, Clock::time_point now);
  void uring_on_accept(const loop::Completion& done, Clock::time_point now);
  void uring_on_recv(Conn& c, const loop::Completion& done, Clock::time_point now);
  void uring_on_send(Conn& c, const loop::Completion& done, Clock::time_point now);
  // Brings the receive request up to date with wants_read().
  void uring_interest(Conn& c);
  // Starts a send of the backlog if none is in flight.
  void uring_flush(Conn& c);
  // Re-arms receives that ran out of buffers, oldest first, no more than
  // there are buffers free (so they do not all fail again at once).
  void uring_rearm_starved(Clock::time_point now);
  // Sends `spans` straight from the provided buffer being delivered
  // (holding it until the send completes), if they are one view of it,
  // nothing is queued or in flight on the connection, and the worker holds
  // fewer than half the ring. Returns false otherwise (the caller copies
  // them to the backlog).
  bool uring_send_direct(Conn& c, std::span<const std::span<const std::byte>> spans);
  // Cancels a closed connection's requests and keeps it until the last
  // completes; frees it at once if none is in flight.
  void uring_retire(std::unique_ptr<Conn> c);
  [[nodiscard]] static std::uint64_t uring_data(const Conn& c, unsigned op) noexcept;

  std::size_t index_;
  Shared& shared_;
  const Config& config_;
  std::unique_ptr<loop::Poller> poller_;
  std::unique_ptr<loop::Ring> ring_;
  std::vector<loop::Completion> completions_;
  // io_uring: accepts kept in flight, each with the address it fills.
  struct UringAccept {
    sockaddr_storage addr{};
    socklen_t len = 0;
    bool armed = false;
  };
  std::array<UringAccept, 8> accepts_{};
  std::size_t accepts_armed_ = 0;
  bool uring_stopping_ = false;    // io_uring: run() is tearing down.
  int recv_buffer_ = -1;           // io_uring: the provided buffer being delivered.
  bool recv_buffer_kept_ = false;  // ... which a direct send now holds.
  std::size_t held_buffers_ = 0;   // Buffers held for direct sends.
  // Releases a connection's held buffers (after an error, or a zombie's
  // last completion).
  void uring_release_held(Conn& c);
  std::deque<std::pair<std::size_t, std::uint64_t>> starved_;  // (slot, id)
  bool wake_armed_ = false;  // io_uring: the eventfd's multishot poll.
  // io_uring: closed connections with requests still in flight, by the
  // user_data (less the operation) of their requests.
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> zombies_;
  net::UniqueFd listener_;
  bool listener_watched_ = false;  // Registered with read interest.
  net::UniqueFd wake_;             // eventfd: wake() writes, run() reads.
  net::UniqueFd spare_fd_;         // Released to shed a connection on EMFILE.
  std::vector<std::unique_ptr<Conn>> slots_;
  std::vector<std::size_t> free_slots_;
  std::size_t open_conns_ = 0;
  std::uint64_t next_id_ = 1;
  std::vector<std::byte> read_buf_;
  std::vector<loop::Event> events_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;

  Clock::time_point accept_paused_until{};
  Clock::time_point last_refuse_log{};
  std::uint64_t refusals_unlogged_ = 0;
  Clock::time_point last_stranger_log_{};  // Peers outside --proxy-from.
  std::uint64_t strangers_unlogged_ = 0;
  bool shutting_down_ = false;
  Clock::time_point drain_deadline_{};
  Counters counters_;
  std::atomic<std::uint64_t> report_ack_{0};

  std::unique_ptr<Handler> handler_;
  std::vector<net::Cidr> proxy_from_;                       // Parsed --proxy-from.
  std::unordered_map<std::uint64_t, std::size_t> slot_of_;  // Connection id -> slot.
  // The batch of the connection whose input is being delivered.
  struct Piece {
    const std::byte* data;  // Into the read buffer, or null: staged.
    std::size_t offset;     // Into stage_, when staged.
    std::size_t size;
  };
  Conn* batch_conn_ = nullptr;
  std::span<const std::byte> batch_input_;  // Bytes that may be sent by view.
  std::vector<Piece> batch_;
  std::vector<std::byte> stage_;
  std::vector<std::span<const std::byte>> spans_;             // flush_batch's iovecs.
  std::vector<std::pair<std::size_t, std::uint64_t>> dirty_;  // (slot, id)
};

}  // namespace framed::server
