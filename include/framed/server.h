/// @file
/// framed::server: run a service of length-prefixed frames over TCP.
///
/// The library owns everything a robust frame server needs: listeners,
/// worker threads with an event loop each (poll, epoll or io_uring), the connection
/// limit, backpressure with bounded memory, idle and frame timeouts, the
/// lingering close that never destroys data already sent, and the drain on
/// SIGINT/SIGTERM (spec/PROTOCOL.md §6). A service supplies a Handler: it
/// sees connections open and close and their frames arrive, and sends bytes
/// to its own connection or to any other connection of the same loop.
///
///   struct Echo : framed::Handler {
///     framed::Delivery delivery() const noexcept override { return framed::Delivery::chunks; }
///     void on_chunk(framed::Connection& c, const framed::Chunk& chunk) override {
///       if (chunk.first) c.send(chunk.header);
///       c.send(chunk.payload);
///     }
///   };
///   framed::Server server(options, [](framed::Loop&) { return std::make_unique<Echo>(); });
///   if (framed::Error e = server.start()) { /* e.message says why */ }
///   // ... server.port(), then from any thread: server.stop();
///   framed::StopReport report = server.wait();
///
/// framed::Server owns nothing of the process: no signal handlers, no
/// stdout, no rlimits, no environment. framed::serve() is the program-level
/// wrapper that adds them (signals, systemd, "listening on" on stdout).
///
/// Threading: each worker calls its own handler from its own thread only;
/// a Connection and a Loop may be used only from their worker's callbacks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framed/decoder.h"
#include "framed/error.h"
#include "framed/options.h"

namespace framed {

/// How a handler receives frames.
enum class Delivery : std::uint8_t {
  /// Each frame as it arrives, in chunks that view the read buffer: no copy,
  /// and memory independent of the frame size.
  chunks,
  /// Each frame whole, as one contiguous span; the library buffers it (up
  /// to max_frame, growing with the bytes that actually arrive).
  frames,
};

/// One piece of a frame, delivered with Delivery::chunks.
struct Chunk {
  std::uint32_t frame_length = 0;  ///< The whole payload's length.
  std::uint32_t offset = 0;        ///< Of payload[0] within the payload.
  /// The frame's 4 header bytes; set when `first` (empty otherwise).
  std::span<const std::byte> header;
  std::span<const std::byte> payload;  ///< May be empty.
  bool first = false;                  ///< The header was validated just now.
  bool last = false;                   ///< This chunk ends the frame.
};

class Loop;
class Handler;

/// Names a connection from anywhere (another worker, another thread) without
/// pointing at it: Loop::post_to() finds the connection on its own loop when
/// the task runs, and refuses a handle whose connection has closed (ids are
/// never reused, so a stale handle never reaches a newer connection).
struct ConnectionHandle {
  std::size_t loop = 0;  ///< The index of the connection's loop.
  std::uint64_t id = 0;  ///< Its Connection::id(); 0 names nothing.
  [[nodiscard]] bool valid() const noexcept { return id != 0; }
  friend bool operator==(const ConnectionHandle&, const ConnectionHandle&) = default;
};

/// A connection, as a handler sees it. Valid from on_open to the end of
/// on_close; use it only on its own loop's thread (its callbacks, its
/// timers, tasks posted to it). A call that acts on it (send, close,
/// pause_reading, resume_reading) from another thread is refused (a send
/// returns false) with an error in the log, and touches nothing; reading
/// its state from another thread (pending_bytes(), context()) is a data
/// race, as with any object of another thread.
class Connection {
 public:
  /// Unique within its server, never reused: id() % workers is the index
  /// of its loop.
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  [[nodiscard]] const std::string& peer() const noexcept { return peer_; }  ///< "1.2.3.4:5"
  [[nodiscard]] Loop& loop() const noexcept { return *loop_; }
  /// How to reach this connection later, from any thread (Loop::post_to()).
  [[nodiscard]] ConnectionHandle handle() const noexcept;

  /// Per-connection state of the handler's own: a T made from `args`,
  /// replacing any earlier one, owned by the connection and destroyed with
  /// it, after on_close (so on_close may still read it). Returns it.
  template <typename T, typename... Args>
  T& emplace_context(Args&&... args) {
    context_.reset();
    T* made = new T(std::forward<Args>(args)...);
    context_ = ContextPtr(made, ContextDeleter{[](void* p) { delete static_cast<T*>(p); }});
    context_type_ = type_tag<T>();
    return *made;
  }
  /// The context set with emplace_context<T>(); null when none is set or it
  /// is not a T.
  template <typename T>
  [[nodiscard]] T* context() const noexcept {
    return context_type_ == type_tag<T>() ? static_cast<T*>(context_.get()) : nullptr;
  }
  /// Destroys the context now, if any.
  void reset_context() noexcept {
    context_.reset();
    context_type_ = nullptr;
  }

  /// Queues bytes for the peer, after everything sent before. Bytes that lie
  /// in the buffer being delivered to this connection's handler are sent
  /// from there without a copy (so send(chunk.payload) costs nothing until
  /// the batch is written); any other bytes are copied. Returns false (and
  /// queues nothing) once the connection is closing.
  bool send(std::span<const std::byte> bytes);
  /// Queues one frame: its header, then `payload`.
  bool send_frame(std::span<const std::byte> payload);
  /// Bytes owed to the peer and not yet taken by the socket: everything
  /// sent, counted at once (also what is gathered while this connection's
  /// input is being delivered). While they reach backlog_cap the
  /// connection's input is not delivered (nor read), whatever the handler
  /// sends; delivery resumes once the peer has taken enough.
  [[nodiscard]] std::size_t pending_bytes() const noexcept;
  /// Flow control: false from when pending_bytes() reaches high_water until
  /// it falls to low_water (Handler::on_drain then). Sending is still
  /// allowed; writable() is the hint to stop producing.
  [[nodiscard]] bool writable() const noexcept;
  /// Stops delivering this connection's input (and reading it) after the
  /// callback in progress, until resume_reading(); input already read waits,
  /// in order. The frame timeout does not count the pause. The idle timeout
  /// still does, so a pause that lasts beyond it ends with the connection.
  void pause_reading();
  void resume_reading();
  [[nodiscard]] bool reading_paused() const noexcept;
  /// Keeps the connection open for output the handler still owes it, such
  /// as replies that other connections will bring (a proxy awaiting its
  /// backends). While held, the peer's EOF and the server's drain still
  /// stop its input as ever (the drain at the end of the frame in
  /// progress), but the close they would begin waits until release(); the
  /// handler goes on sending meanwhile. close(), an error, the idle timeout
  /// and the drain timeout close a held connection all the same.
  void hold();
  /// Ends hold(): a close that the EOF or the drain deferred begins now,
  /// after what was sent (as if it had begun at once).
  void release();
  [[nodiscard]] bool held() const noexcept;
  /// This connection's backlog cap, instead of ServerOptions::backlog_cap;
  /// SIZE_MAX: its input is read whatever output it owes. For a connection
  /// whose input must flow while its own output waits, and whose memory the
  /// handler bounds itself: a proxy's backend side, whose replies are what
  /// frees its clients (a proxy that stopped reading a backend while
  /// sending it a large frame, and a backend that stopped reading while
  /// its echo waited, would wait for each other for ever).
  void set_backlog_cap(std::size_t bytes);
  /// Closes gracefully: reading stops, what was queued is delivered, then
  /// the lingering close (the peer's unread input never resets it away).
  /// `why` is logged with the peer's address.
  void close(std::string_view why);

  /// Over TLS, from on_open on: the client certificate's subject, verified
  /// against TlsOptions::client_ca_file, in OpenSSL's one-line form
  /// ("CN=client one,O=framed tests"). Empty without mutual TLS (or without TLS).
  [[nodiscard]] const std::string& peer_subject() const noexcept { return peer_subject_; }
  /// ... and its subject alternative names ("DNS:client.example",
  /// "email:client@example.com", "IP:127.0.0.1"); empty likewise.
  [[nodiscard]] const std::vector<std::string>& peer_names() const noexcept { return peer_names_; }

 protected:
  Connection(std::uint64_t id, std::string peer, Loop* loop)
      : id_(id), peer_(std::move(peer)), loop_(loop) {}
  ~Connection() = default;
  /// The runtime names the client from a PROXY header, before on_open.
  void set_peer(std::string peer) { peer_ = std::move(peer); }
  /// The runtime records the TLS client certificate, before on_open.
  void set_peer_certificate(std::string subject, std::vector<std::string> names) {
    peer_subject_ = std::move(subject);
    peer_names_ = std::move(names);
  }

 private:
  struct ContextDeleter {
    void (*destroy)(void*) = nullptr;
    void operator()(void* p) const noexcept {
      if (destroy != nullptr) destroy(p);
    }
  };
  using ContextPtr = std::unique_ptr<void, ContextDeleter>;
  /// One address per type, the same in every translation unit (an inline
  /// function's static), so context<T>() needs no RTTI.
  template <typename T>
  static const void* type_tag() noexcept {
    static const char tag = 0;
    return &tag;
  }

  std::uint64_t id_;
  std::string peer_;
  Loop* loop_;
  std::string peer_subject_;
  std::vector<std::string> peer_names_;
  ContextPtr context_{nullptr, ContextDeleter{}};
  const void* context_type_ = nullptr;
};

/// A timer set with Loop::after() or Loop::every(). It is cancelled by
/// cancel(), by destroying the handle, or by assigning another timer to it:
/// a timer never outlives the object that keeps its handle. The handle must
/// not outlive its loop (its server), and is used on the loop's thread only.
class Timer {
 public:
  Timer() noexcept = default;
  Timer(Timer&& other) noexcept;
  Timer& operator=(Timer&& other) noexcept;
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// Stops the timer: its callback will not run again. Harmless on a timer
  /// that has fired, was cancelled, or was never set.
  void cancel() noexcept;
  /// True while the callback is still to run: an after() timer until it
  /// fires, an every() timer until it is cancelled.
  [[nodiscard]] bool active() const noexcept;
  /// Sets the timer to run `delay` from now instead: an after() timer again
  /// (fired or not), an every() timer's next run (then every period). Costs
  /// no allocation: a per-request timeout re-armed on every request is
  /// this. Returns false on a handle with no timer (never set, cancelled),
  /// or from another thread (refused, with an error in the log).
  bool restart(std::chrono::milliseconds delay) noexcept;

 private:
  friend class Loop;
  Loop* loop_ = nullptr;
  std::uint32_t index_ = UINT32_MAX;
  std::uint32_t generation_ = 0;
};

/// One worker's event loop, as a handler sees it. Everything here is for
/// the loop's own thread (its handler's callbacks, its timers, its tasks)
/// except what says "any thread". A callback that throws (a timer's, a
/// task's) is logged and the loop goes on.
class Loop {
 public:
  using Clock = std::chrono::steady_clock;

  /// The connection with this id on this loop, or null.
  [[nodiscard]] Connection* find(std::uint64_t id) noexcept;
  /// Calls `f` for every open connection of this loop (closing ones too).
  void for_each(const std::function<void(Connection&)>& f);
  [[nodiscard]] std::size_t index() const noexcept;  ///< 0 .. loops() - 1
  [[nodiscard]] std::size_t loops() const noexcept;  ///< The server's workers.
  /// Any thread: true on this loop's own thread (and while the server is
  /// being made, before its loops start, and after they end).
  [[nodiscard]] bool on_loop_thread() const noexcept;
  /// Loop time: read once per turn, so every event of a turn sees the same
  /// instant. Tests that drive the loop on a manual clock see theirs.
  [[nodiscard]] Clock::time_point now() const noexcept;
  /// True once the server's drain has begun on this loop (Server::stop()):
  /// a handler stops reconnecting and scheduling new work. Its outbound
  /// connections (connect()) are drained last, once every accepted
  /// connection of this loop has closed, so that a proxy's backends still
  /// answer the frames its clients finish. This loop's thread only.
  [[nodiscard]] bool stopping() const noexcept;

  /// Runs `f` once, `delay` from now (on this loop's thread). Returns its
  /// handle; dropping the handle cancels it. From another thread: refused
  /// (an inactive handle, an error in the log).
  [[nodiscard]] Timer after(std::chrono::milliseconds delay, std::function<void()> f);
  /// Runs `f` every `period` (above 0; the first run one period from now),
  /// until the handle is cancelled or dropped. Each run is one period after
  /// the previous one ran, so runs that come late (a busy loop) never bunch
  /// up.
  [[nodiscard]] Timer every(std::chrono::milliseconds period, std::function<void()> f);

  /// Any thread: runs `f` on this loop's thread, soon (the loop is woken).
  /// Tasks run in the order posted.
  void post(std::function<void()> f);
  /// Any thread: runs `f` on loop `index` of the same server. Returns false
  /// (and drops `f`) if there is no such loop.
  bool post_to(std::size_t index, std::function<void(Loop&)> f);
  /// Any thread: runs `f(c)` on the loop of the connection `h` names, if it
  /// is still open when the task runs; otherwise `f` is dropped (and, if
  /// given, `refused()` runs there instead). Returns false if `h` names no
  /// loop of this server.
  bool post_to(ConnectionHandle h, std::function<void(Connection&)> f,
               std::function<void()> refused = nullptr);
  /// Any thread: runs `f` on every loop of the same server (this one too),
  /// each on its own thread.
  void post_all(const std::function<void(Loop&)>& f);

  /// Opens a connection of its own to host:port, served on this loop like
  /// an accepted one (the same framing, max_frame, timeouts, backpressure
  /// and flow control; never a PROXY header) and reported to `handler`,
  /// which the connection owns. Every address the host resolves to is tried
  /// in turn within `timeout` in all; a name is resolved here, on the loop's
  /// thread, which waits meanwhile (pass an address on a busy loop). Counts
  /// toward max_conns. Returns the handle the connection will have; the
  /// outcome comes later (never during this call): on_open, or
  /// on_connect_error with Errc::resolve, Errc::connect or Errc::timed_out,
  /// after which the handler is destroyed. From another thread, or with no
  /// handler: refused (an invalid handle).
  ConnectionHandle connect(const std::string& host, std::uint16_t port,
                           std::unique_ptr<Handler> handler,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

 protected:
  Loop() = default;
  ~Loop() = default;
};

/// What a service supplies: callbacks for one worker's connections, all on
/// that worker's thread. Derive from FrameHandler (whole frames) or
/// ChunkHandler (frames as they stream in): each fixes the delivery and
/// makes the other kind's callback final, so overriding the wrong one does
/// not compile. A Handler derived directly (the 1.0 way) chooses with
/// delivery(); should it not override the matching callback, its input is
/// dropped with an error in the log, once.
class Handler {
 public:
  virtual ~Handler() = default;
  [[nodiscard]] virtual Delivery delivery() const noexcept { return Delivery::frames; }
  /// With proxy_protocol, called once the PROXY header is complete, so
  /// c.peer() is already the client's address; a connection closed before
  /// its header is never opened (and never closed) to the handler.
  virtual void on_open(Connection& /*c*/) {}
  /// Delivery::chunks: every piece of every frame, in order.
  virtual void on_chunk(Connection& c, const Chunk& chunk);
  /// Delivery::frames: every whole frame, in order.
  virtual void on_frame(Connection& c, std::span<const std::byte> payload);
  /// The peer ended its input (EOF). `held` is the 1-3 header bytes of a
  /// frame begun but not yet validated, if any (with chunks, everything
  /// else has been delivered; with frames, a partial frame is dropped).
  virtual void on_end_of_input(Connection& /*c*/, std::span<const std::byte> /*held*/) {}
  /// Flow control: the connection's pending output, having reached
  /// ServerOptions::high_water, fell to low_water; c.writable() is true
  /// again. A proxy resumes reading its other side here.
  virtual void on_drain(Connection& /*c*/) {}
  /// The connection is about to be destroyed; sends are ignored now. Its
  /// context is destroyed after this returns.
  virtual void on_close(Connection& /*c*/) {}
  /// Loop::connect() failed for the connection `h` would have named: it
  /// never opened. The handler is destroyed after this returns.
  virtual void on_connect_error(ConnectionHandle /*h*/, const Error& /*error*/) {}

 private:
  bool mismatch_logged_ = false;
};

/// A handler that takes each frame whole (Delivery::frames): the library
/// buffers it, up to max_frame, growing with the bytes that actually arrive.
class FrameHandler : public Handler {
 public:
  [[nodiscard]] Delivery delivery() const noexcept final { return Delivery::frames; }
  void on_frame(Connection& c, std::span<const std::byte> payload) override = 0;

 private:
  void on_chunk(Connection& /*c*/, const Chunk& /*chunk*/) final {}
};

/// A handler that takes frames as they arrive (Delivery::chunks): views of
/// the read buffer, no copy, memory independent of the frame size.
class ChunkHandler : public Handler {
 public:
  [[nodiscard]] Delivery delivery() const noexcept final { return Delivery::chunks; }
  void on_chunk(Connection& c, const Chunk& chunk) override = 0;

 private:
  void on_frame(Connection& /*c*/, std::span<const std::byte> /*payload*/) final {}
};

/// Makes the handler of one worker; called once per worker, on the main
/// thread, before any worker starts.
using HandlerFactory = std::function<std::unique_ptr<Handler>(Loop&)>;

/// How a server's run ended (Server::wait()).
struct StopReport {
  /// Every connection closed by itself within the drain timeout: nothing was
  /// cut, no worker failed, and abort() was not called.
  bool drained = false;
  std::size_t cut = 0;   ///< Connections the server closed at the drain timeout or abort().
  bool aborted = false;  ///< abort() ended the run.
  bool failed = false;   ///< A worker's loop failed (logged); every worker was stopped.
  Error error;           ///< run() only: why start() failed.
};

/// What a server has done so far, summed over its workers.
struct ServerCounters {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;          ///< Over max_conns, shed on EMFILE, or outside proxy_from.
  std::uint64_t refused_per_ip = 0;   ///< Over max_conns_per_ip (also in `refused`).
  std::uint64_t timed_out = 0;        ///< Idle, frame or PROXY header timeout.
  std::uint64_t protocol_errors = 0;  ///< Oversize length, bad PROXY header.
  std::uint64_t frames_sent = 0;      ///< Frames whose last byte was written.
  std::uint64_t bytes_sent = 0;       ///< Bytes written to sockets.
  std::uint64_t open = 0;             ///< Connections open now.
};

/// One frame server: its listeners, its workers (a thread and an event loop
/// each) and their connections. Two Servers share nothing; each may be
/// started, stopped and waited for independently. It touches nothing of the
/// process beyond the threads and descriptors it owns (no signal handlers,
/// no stdout, no rlimits, no environment); logs go through the process's
/// one log (set_log_level()).
class Server {
 public:
  /// Nothing happens until start(); `make_handler` is called once per worker
  /// during start(), on the calling thread.
  Server(ServerOptions options, HandlerFactory make_handler);
  /// A server still running is aborted and waited for.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Checks the options, binds (or takes options.listen_fd), makes every
  /// worker and starts their threads. Returns an empty Error once the
  /// listeners accept (a connection made after start() returns is served),
  /// or why not, having undone everything (the server may not be started
  /// again). Call it once.
  Error start();
  /// The port listened on (the real one when options.port was 0); 0 before
  /// start().
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Every address listened on, as "127.0.0.1:7777" or "[::1]:7777".
  [[nodiscard]] std::vector<std::string> addresses() const;

  /// Begins the drain (spec/PROTOCOL.md §6.7): listeners close, every
  /// connection finishes the frame in progress and closes; those still open
  /// after `drain_timeout` are cut. Safe from any thread, a handler's
  /// included, and more than once (a later call may only bring the end
  /// nearer). Does not wait: wait() does.
  void stop(std::chrono::milliseconds drain_timeout);
  void stop();  ///< With options.drain_timeout.
  /// Stops at once: every connection is closed, whatever it owes. Safe from
  /// any thread.
  void abort();
  /// From any thread: reads the TLS certificate, key and client CA again
  /// from the files options.tls names; connections accepted from then on
  /// use them, and connections already open keep theirs. Returns why not
  /// (a file that cannot be read, a key that does not match...), and then
  /// the ones in use stay in use. serve() calls it on SIGHUP.
  Error reload_tls();
  /// Blocks until every worker has finished (after stop() or abort(), or a
  /// worker's failure) and joins them. Returns how the run ended; a second
  /// call returns the same. From one thread, never a worker's.
  StopReport wait();
  /// start(), then wait(); a start error is in the report's `error`.
  StopReport run();

  /// Any thread, once started: runs `f` on every worker's loop, each on its
  /// own thread. Does nothing before start() or after wait().
  void for_each_loop(const std::function<void(Loop&)>& f);

  /// Connections open now, across every worker. Safe from any thread.
  [[nodiscard]] std::size_t open_connections() const noexcept;
  /// Any thread: the counters, each read at most a moment after it moved.
  [[nodiscard]] ServerCounters counters() const noexcept;
  /// Any thread: every metric in the Prometheus text format (0.0.4), as
  /// the metrics endpoint serves it; empty before start(). For a program
  /// that serves metrics its own way.
  [[nodiscard]] std::string metrics() const;
  /// The metrics endpoint's port once started with options.metrics (0
  /// otherwise).
  [[nodiscard]] std::uint16_t metrics_port() const noexcept;

  struct Impl;  ///< The library's internals (src/server/server_impl.h).
  friend Impl& server_impl(Server& s) noexcept { return *s.impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// Sets the level of the process's one log (stderr, one line per event).
/// Call it before starting a server.
void set_log_level(LogLevel level) noexcept;
/// Sets the process's log format; like set_log_level(), before any server
/// starts.
void set_log_format(LogFormat format) noexcept;
/// Writes one line to the process's one log (stderr, in its format) if
/// `level` is enabled: a service's own events among the server's. `event`
/// names the line in JSON ("backend_down"), and `fields` are its key and
/// value pairs there ({"backend", "10.0.0.2:7000"}); text lines show the
/// message alone. Any thread.
void log_event(LogLevel level, std::string_view event, std::string_view message,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {});
/// Whether a line at `level` would be written (to skip building one).
[[nodiscard]] bool log_level_enabled(LogLevel level) noexcept;

/// The program-level wrapper: sets the log level, raises RLIMIT_NOFILE to
/// fit max_conns (or lowers the limit, with a warning), takes the socket
/// systemd passed if options.systemd says so, runs a Server, prints
/// "listening on HOST:PORT" on stdout (unless log_level is off), tells
/// systemd READY=1 if it asked, and serves until a SIGINT or SIGTERM drain
/// completes (SIGUSR1 logs the counters). It handles those signals in
/// whichever thread receives them, and restores the signal dispositions and
/// the calling thread's mask before it returns. Returns the process exit
/// status: 0 after a drain (one that cut connections says so in the log), 1
/// when it cannot start (the reason on stderr, whatever the log level: a
/// program that cannot start says why) or after a second signal.
int serve(const ServerOptions& options, const HandlerFactory& make_handler);

/// What serve() adds that is the program's own rather than the server's.
struct ServeOptions {
  /// How the counters lines (on SIGUSR1 and at exit) name the frames and
  /// bytes written to peers: framed-server says "frames echoed".
  std::string frames_label = "frames sent";
  std::string bytes_label = "bytes sent";
};
int serve(const ServerOptions& options, const HandlerFactory& make_handler,
          const ServeOptions& program);

}  // namespace framed
