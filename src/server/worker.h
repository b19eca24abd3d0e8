// One worker: a thread with its own event loop, transport, listener and
// connections. It wires the core's pieces together (loop/event_loop.h,
// transport/transport.h, core/acceptor.h, core/conn.h, core/conn_table.h)
// and carries the transport's events to the connection they concern; the
// logic lives in those pieces. It is also the handler's framed::Loop.
//
// Workers share nothing on the hot path: only the connection limit (one
// atomic) and the settings. Other threads reach a worker only through
// post(), which runs a task on its thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/acceptor.h"
#include "core/conn.h"
#include "core/conn_table.h"
#include "core/context.h"
#include "core/counters.h"
#include "framed/server.h"
#include "loop/clock.h"
#include "loop/event_loop.h"
#include "net/socket.h"
#include "transport/transport.h"

namespace framed::server {

using core::Counters;

class Worker final : public framed::Loop, private transport::Sink {
 public:
  // Makes this worker's transport, reporting to `sink`; null with `error`
  // set when it cannot.
  using MakeTransport = std::function<std::unique_ptr<transport::Transport>(transport::Sink& sink,
                                                                            std::string& error)>;

  // Worker `index` of a server with `config`, reading time from `clock` and
  // sharing `limit` with the other workers. Neither is owned.
  Worker(std::size_t index, const ServerOptions& config, loop::Clock& clock,
         core::ConnLimit& limit);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Makes the transport and gives it `listener` (non-blocking; may be empty
  // for a worker that accepts nothing; `inherited` when systemd passed it).
  // Returns false with `error` set.
  bool init(const MakeTransport& make, net::UniqueFd listener, std::string& error,
            bool inherited = false);
  // The handler, made for this worker (framed::Loop is this object).
  void set_handler(std::unique_ptr<Handler> handler);
  // Every worker of the server, this one included, in index order (not
  // owned; null: this worker alone, as in the simulator).
  void set_siblings(const std::vector<std::unique_ptr<Worker>>* all) noexcept { siblings_ = all; }
  // Worker `index` of the server, or null.
  [[nodiscard]] Worker* sibling(std::size_t index) noexcept;
  [[nodiscard]] std::size_t sibling_count() const noexcept {
    return siblings_ != nullptr ? siblings_->size() : 1;
  }
  // True on the thread that runs this worker (and, before it starts or
  // once it has ended, on any: the handler may set timers while it is
  // made, and its timers are cancelled as it is destroyed).
  [[nodiscard]] bool on_own_thread() const noexcept {
    const std::thread::id owner = thread_.load(std::memory_order_acquire);
    return owner == std::thread::id{} || owner == std::this_thread::get_id();
  }
  // The drain has begun on this worker (its thread only).
  [[nodiscard]] bool draining() const noexcept { return draining_; }
  // Makes the calling thread this worker's own (start() does it too).
  void bind_thread() noexcept {
    thread_.store(std::this_thread::get_id(), std::memory_order_release);
  }
  // Runs a handler's callback `f` (a timer's, a task's): an exception it
  // throws is logged (as `what`) and the loop goes on; what it sent is
  // written once it returns.
  void run_guarded(const char* what, const std::function<void()>& f);

  // Runs on the calling thread (the worker's own) until the drain has
  // ended (returns 0), or an exit is requested or the loop fails (returns 1):
  // start(), turn() until it returns false, teardown().
  int run();
  // Starts the transport (on this thread) and accepting. Returns false
  // after logging why.
  bool start();

  // Runs `task` on the worker's thread, soon. Safe from any thread.
  void post(std::function<void()> task) { loop_->post(std::move(task)); }

  // On the worker's thread (through post()): begins the drain, due to end
  // at `deadline`: the listener's queue is accepted and the listener
  // closed, then every connection finishes its frame in progress and
  // closes (spec/PROTOCOL.md §6.7). Once draining, a call only moves the
  // end nearer.
  void begin_shutdown(loop::TimePoint deadline);
  // On the worker's thread: run() returns 1 after this turn.
  void request_exit() noexcept {
    exit_ = true;
    if (io_) io_->wake();  // The turn may be about to wait: return at once.
  }

  [[nodiscard]] const Counters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::size_t worker_index() const noexcept { return index_; }
  // Time its loop has spent busy (not waiting), in nanoseconds. Any thread.
  [[nodiscard]] std::uint64_t busy_ns() const noexcept { return loop_ ? loop_->busy_ns() : 0; }
  // Connections this worker closed at the drain's end or at an exit,
  // whatever they still owed. Read once run() has returned.
  [[nodiscard]] std::size_t cut() const noexcept { return cut_; }

  // The pieces, for tests and the simulator (worker's thread only).
  [[nodiscard]] loop::EventLoop& event_loop() noexcept { return *loop_; }
  [[nodiscard]] core::ConnTable& table() noexcept { return table_; }
  [[nodiscard]] bool done() const noexcept { return done_ || exit_; }
  // One turn of the loop, then the dirty list and the freed connections.
  // Returns false when run() would return (see run()).
  bool turn(int& rc);
  // Closes what is left and lets the transport finish.
  void teardown();

 private:
  friend class framed::Loop;

  [[nodiscard]] static core::Conn& conn(transport::Socket& s) noexcept {
    return *static_cast<core::Conn*>(s.owner);
  }
  // transport::Sink.
  void on_accepted(transport::Socket& s, const net::Endpoint& peer) override;
  void on_accept_error(const net::SysError& error) override;
  transport::Flow on_input(transport::Socket& s, std::span<const std::byte> bytes) override;
  void on_eof(transport::Socket& s) override;
  void on_error(transport::Socket& s, const net::SysError& error) override;
  void on_writable(transport::Socket& s) override;
  void on_sent(transport::Socket& s, std::size_t bytes, std::uint64_t frames) override;
  void on_connected(transport::Socket& s, const net::SysError& result) override;
  void on_settle(transport::Socket& s) override;
  void on_wake() override {}

  void drain_expired();

  // --- Outbound connections (outbound.cc).
  // One connect in progress: the addresses left to try, the socket of the
  // attempt under way, the deadline of them all.
  struct Outbound {
    std::uint64_t id = 0;  // Reserved for the connection.
    std::string host;
    std::vector<net::Endpoint> candidates;
    std::size_t next = 0;  // Of candidates: the one to try next.
    std::unique_ptr<Handler> handler;
    transport::Socket* socket = nullptr;  // The attempt under way, if any.
    net::Endpoint trying;
    loop::TimerQueue::Id timer;
    std::chrono::milliseconds timeout{};
    std::string last_error;  // Why the previous address failed.
  };

 public:
  // Loop::connect(): begins one (see framed/server.h).
  ConnectionHandle connect(const std::string& host, std::uint16_t port,
                           std::unique_ptr<Handler> handler, std::chrono::milliseconds timeout);

 private:
  // Tries the next address of `o`, or fails it with the last reason.
  void connect_next(Outbound& o);
  // Ends `o` with `error` (on_connect_error, later in this turn's tasks).
  void fail_outbound(Outbound& o, Error error);
  // Every connect in progress fails (the server is stopping).
  void cancel_outbound(const char* why);
  // The drain is over once no connection is left and no accept can still
  // bring one.
  void check_drained();

  std::size_t index_;
  const ServerOptions& config_;
  loop::Clock& clock_;
  Counters counters_;
  std::unique_ptr<transport::Transport> io_;
  std::unique_ptr<loop::EventLoop> loop_;
  core::ConnTable table_;
  std::unique_ptr<core::Context> ctx_;
  std::unique_ptr<core::Acceptor> acceptor_;
  core::ConnLimit& limit_;
  std::unique_ptr<Handler> handler_;
  const std::vector<std::unique_ptr<Worker>>* siblings_ = nullptr;
  std::atomic<std::thread::id> thread_{};  // Set by bind_thread() or start().
  loop::TimerQueue::Id drain_timer_;
  std::size_t cut_ = 0;
  std::vector<std::unique_ptr<Outbound>> outbound_;  // Connects in progress.
  bool draining_ = false;
  // The drain has come to the outbound connections: every accepted one
  // had closed (a proxy's backends serve its clients to the end).
  bool outbound_drained_ = false;
  bool done_ = false;
  bool exit_ = false;
};

}  // namespace framed::server
