// One connection: the state machine of spec/PROTOCOL.md §6, written once
// for every kind of I/O. It takes events (bytes arrived, EOF, an error,
// output taken by the kernel, a deadline reached, the drain begun, the
// handler's send or close) and acts through the transport (read or not,
// send these bytes, shut down the write side, close). It never asks which
// transport it has, and never reads the system clock: time is the loop's.
//
// Its life is one State:
//
//   handshake / proxy_header --> open --> draining --> closing --> lingering --> closed
//        \_______________________\___________\____________^______________________^
//
// handshake (only over TLS) waits for the transport's TLS handshake, and
// proxy_header (only with --proxy-protocol) for the PROXY header; in both
// the handler has not seen the connection yet. open reads and delivers.
// draining (the server is shutting down) reads on to the end of the frame
// in progress only. closing delivers no more input and flushes what is
// owed. lingering has shut down the write side and discards input until the
// peer has everything (§6.8). closed has told the handler and released the
// socket. Every timeout rule lives in next_deadline().
//
// Its members are defined in three files: conn.cc (input, delivery,
// output), conn_close.cc (the close, the linger, the drain, the
// deadlines) and conn_report.cc (what it reports: latency, pending bytes,
// log events); connection_api.cc is framed::Connection's checked front.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/close_reason.h"
#include "core/context.h"
#include "core/session.h"
#include "framed/proxy.h"
#include "loop/timer_queue.h"
#include "util/log.h"

namespace framed::core {

enum class State : std::uint8_t {
  handshake,
  proxy_header,
  open,
  draining,
  closing,
  lingering,
  closed
};

[[nodiscard]] std::string_view to_string(State s) noexcept;

// Why a connection's next deadline is due.
enum class Deadline : std::uint8_t {
  none,
  idle,            // No bytes moved either way for --idle-timeout.
  frame,           // A frame incomplete --frame-timeout after its first byte.
  proxy_header,    // No complete PROXY header --proxy-timeout after the accept.
  handshake,       // No finished TLS handshake --tls-handshake-timeout after the accept.
  delivery_check,  // Lingering: time to ask the kernel whether the peer has it all.
  linger_timeout,  // Closing: the peer acknowledged nothing for --linger-timeout.
  linger_time,     // Closing: --linger-time since the close began.
};

class Conn final : public framed::Connection {
 public:
  // A connection on `socket` (whose owner it becomes), in `slot` of the
  // table, named `peer` until a PROXY header renames it. It reports to the
  // worker's handler, or to `own` (an outbound connection's), which it then
  // owns and destroys after on_close.
  Conn(Context& ctx, transport::Socket& socket, std::uint64_t id, std::size_t slot,
       std::string peer, std::unique_ptr<Handler> own = nullptr);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] std::size_t slot() const noexcept { return slot_; }
  // The handler may see it: opened, and not yet being destroyed.
  [[nodiscard]] bool visible() const noexcept { return opened_ && !destroying_; }
  // Bytes of the frame stream consumed so far (a PROXY header excluded):
  // for the simulator's oracle, which compares what was echoed with what
  // was consumed.
  [[nodiscard]] std::uint64_t consumed_input() const noexcept {
    return session_.decoder().offset();
  }

  // --- Events.
  // The connection was accepted (or connected, `outbound`) and its socket
  // opened: it begins (closing at once while the server shuts down;
  // waiting for a PROXY header if asked, and not outbound; else opened to
  // the handler).
  void start(bool outbound = false);
  // Bytes arrived (not empty). Returns whether to read on now.
  transport::Flow on_input(std::span<const std::byte> got);
  // The peer ended its input: the handler hears of it, then the close begins.
  void on_eof();
  // A read or a send failed: closes at once.
  void on_error(const net::SysError& error);
  // The socket can take output (readiness): flushes, and moves a close on.
  void on_writable();
  // The kernel took `bytes` of output (completion), completing `frames`.
  void on_sent(std::size_t bytes, std::uint64_t frames);
  // This batch's events are done: a closing connection flushes and moves
  // on; then the transport's interest and the deadline are brought up to
  // date.
  void on_settle();
  // The server began its drain: read on to the end of a frame begun, or
  // close now if none is.
  void begin_drain();
  // Closes now, whatever is owed (the drain timed out, the worker stops).
  void force_close(CloseReason reason, const std::string& why, util::LogLevel level);
  // The connection holds a --max-conns-per-ip slot for `client` (taken by
  // the acceptor), which it gives back when it closes.
  void hold_client(const IpKey& client) noexcept { client_ = client; }

  // The earliest deadline and why: the only place the timeout rules live.
  struct Due {
    loop::TimePoint when = loop::TimePoint::max();
    Deadline what = Deadline::none;
  };
  [[nodiscard]] Due next_deadline() const noexcept;

  // --- The handler's API (framed::Connection).
  bool send(std::span<const std::byte> bytes);
  [[nodiscard]] std::size_t pending_bytes() const noexcept;
  void request_close(std::string_view why);
  [[nodiscard]] bool writable() const noexcept { return !above_high_; }
  // The handler's pause of its input (Connection::pause_reading()).
  void set_reading_paused(bool paused);
  [[nodiscard]] bool reading_paused() const noexcept { return reading_paused_; }
  // The handler still owes this connection output (Connection::hold()):
  // the peer's EOF and the drain stop its input as ever, but the close they
  // would begin waits for set_held(false).
  void set_held(bool held);
  // This connection's own backlog cap (Connection::set_backlog_cap()).
  void set_backlog_cap(std::size_t bytes);
  [[nodiscard]] bool held() const noexcept { return held_; }
  // Made by Loop::connect() (it owns its handler): the drain comes to it
  // after every accepted connection of its worker has closed.
  [[nodiscard]] bool outbound() const noexcept { return own_handler_ != nullptr; }

  // Flushes and moves on every connection a handler wrote to or closed
  // outside its own input (ctx.dirty); run after each callback returns, so
  // a handler never sees a connection vanish under it.
  static void process_dirty(Context& ctx);

 private:
  [[nodiscard]] loop::TimePoint now() const noexcept { return ctx_.loop.now(); }
  // Reading and delivering input (open or draining; proxy_header counts as
  // open to the closing rules).
  [[nodiscard]] bool open_phase() const noexcept { return state_ <= State::draining; }
  [[nodiscard]] bool wants_read() const noexcept;
  void on_deadline();
  // --proxy-protocol: feeds `got` to the header parser and leaves in `got`
  // the bytes after the header. On the header's end, names the connection
  // after its client and opens it to the handler. Returns false if the
  // connection is closing.
  bool read_proxy_header(std::span<const std::byte>& got);
  void open_to_handler();
  // In State::handshake: once the transport says the handshake is done,
  // opens the connection to the handler.
  void check_secured();
  // Hands one input's bytes to the handler as chunks or frames, stopping
  // early once the output owed reaches the backlog cap (the rest is kept
  // in unread_ until the peer has taken enough).
  Session::Consumed deliver(std::span<const std::byte> got);
  // Delivers input kept back by backpressure once the output owed is under
  // the cap again (and then an EOF that came meanwhile).
  void resume_input();
  // The bytes and the EOF of one input, delivered (on_input without the
  // bookkeeping of arrival).
  transport::Flow take_input(std::span<const std::byte> got);
  // Sends the batch gathered while delivering. Returns false if the
  // connection died.
  bool flush_batch();
  // Writes what the outbox holds. Returns false if the connection died.
  bool flush();
  void wrote(std::size_t bytes, std::uint64_t frames);
  // A frame's last byte arrived (now()).
  void note_arrival();
  // `frames` replies were written: their latencies go to the histogram.
  void note_replies(std::uint64_t frames);
  // Asks the kernel how much of our output the peer has acknowledged; moves
  // the activity and progress clocks if that grew. Sets `unacked` (SIZE_MAX
  // when the kernel cannot tell).
  void observe_acks(std::size_t& unacked);
  void mark_dirty();
  // Begins the close for `reason` (kept if a close already began).
  void begin_close(CloseReason reason, const std::string& why, util::LogLevel level);
  // After a flush: moves a closing connection on (shutdown, linger, close).
  void advance_close();
  // Closes at once; `reason` is kept if a close already began (a later step
  // of that close passes CloseReason::none).
  void close_now(CloseReason reason, const std::string& why, util::LogLevel level);
  // A log event about this connection: its peer, id and worker.
  [[nodiscard]] util::LogEvent event(std::string_view name) const;
  // The reason of a socket failure: a reset, the TLS layer, or other.
  static CloseReason reason_of(const net::SysError& error) noexcept;
  // Tracks backpressure, brings the transport's interest up to date, then
  // the deadline.
  void settle();
  // Notes the start and end of backpressure (the frame timer's pause).
  void track_pause();
  // Delivery goes on: under the backlog cap, and not paused by the handler.
  [[nodiscard]] bool may_deliver() const noexcept {
    return !reading_paused_ && pending_bytes() < backlog_cap_;
  }
  // Flow control: notes pending output reaching high_water.
  void note_output() noexcept {
    if (!above_high_ && pending_bytes() >= ctx_.config.high_water) above_high_ = true;
  }
  // Flow control: tells the handler once output has fallen to low_water.
  // Returns false if the connection closed meanwhile.
  bool notify_drain();

  Context& ctx_;
  std::unique_ptr<Handler> own_handler_;  // An outbound connection's; else null.
  Handler* handler_;                      // Who hears of this connection.
  transport::Socket* socket_;             // Null once closed.
  std::size_t slot_;
  State state_ = State::open;
  CloseReason reason_ = CloseReason::none;  // Why the close began.
  // This connection's share of Counters::pending_bytes, as last settled.
  std::size_t reported_pending_ = 0;
  void report_pending() noexcept;
  Session session_;
  ProxyParser proxy_;
  loop::TimerQueue::Id timer_;
  std::optional<IpKey> client_;  // The --max-conns-per-ip slot held, if any.
  // Frames received and not yet replied to, as runs of frames that arrived
  // at the same loop time, oldest first (from arrivals_head_): each frame
  // written pairs with the oldest, for the latency histogram. Bounded: past
  // kMaxArrivals runs, newer frames join the newest run (a handler that
  // does not reply once per frame makes the figure approximate, never the
  // memory grow).
  struct Arrival {
    loop::TimePoint at;
    std::uint64_t frames;
  };
  std::vector<Arrival> arrivals_;
  std::size_t arrivals_head_ = 0;

 public:
  // Runs held (answered or not) in the latency queue: its memory (tests).
  [[nodiscard]] std::size_t arrival_runs_held() const noexcept { return arrivals_.size(); }

 private:
  std::vector<std::byte> frame_buf_;  // Delivery::frames: the frame so far.
  // Input read but not yet delivered: the handler's output reached the
  // backlog cap mid-read. At most one read (two with a completion
  // transport, whose receive may complete after reading was turned off).
  std::vector<std::byte> unread_;
  bool eof_deferred_ = false;  // The peer's EOF arrived behind unread_.
  bool resuming_ = false;      // In resume_input(): no nesting.
  bool opened_ = false;        // on_open was called, so on_close will be.
  bool destroying_ = false;    // In on_close: sends are ignored.
  bool dirty_ = false;         // In ctx.dirty.
  bool peer_eof_ = false;      // The peer will send no more.
  bool output_ended_ = false;  // Transport::end_output() was called (closing).
  // Backpressure: the server stopped reading this peer at the backlog cap.
  // The frame timeout measures the peer, so it is paused meanwhile.
  bool paused_ = false;
  bool reading_paused_ = false;  // By the handler (pause_reading()).
  bool held_ = false;            // By the handler (Connection::hold()).
  // The close that the peer's EOF or the drain would have begun while
  // held: begun at set_held(false). CloseReason::none: none waits.
  struct Deferred {
    CloseReason reason = CloseReason::none;
    std::string why;
    util::LogLevel level = util::LogLevel::debug;
  };
  Deferred deferred_;
  bool input_over_ = false;
  std::size_t backlog_cap_ = SIZE_MAX;  // ServerOptions::backlog_cap unless the handler set one.  // Held past the end of its input: read no more.
  // Begins the close for the end of input (EOF, drain), or, while held,
  // records it for set_held(false).
  void end_input_close(CloseReason reason, const std::string& why, util::LogLevel level);
  bool above_high_ = false;      // Output reached high_water; not yet back to low_water.
  bool frame_open_ = false;      // A frame is in progress; its timer runs.
  loop::TimePoint paused_since_{};
  loop::TimePoint frame_started_{};
  // Bytes moved either way (read, written, or acknowledged by the peer):
  // the idle timeout counts from here.
  loop::TimePoint last_activity_{};
  // Our output moved (written, or acknowledged by the peer): a closing
  // connection's no-progress bound counts from here.
  loop::TimePoint last_progress_{};
  loop::TimePoint closing_since_{};
  loop::TimePoint proxy_deadline_{};
  loop::TimePoint handshake_deadline_{};
  loop::TimePoint next_check_{};  // Lingering: when to ask the kernel again.
  std::uint64_t written_ = 0;     // Bytes written to the socket.
  std::uint64_t acked_ = 0;       // Of those, acknowledged as last seen.
};

}  // namespace framed::core
