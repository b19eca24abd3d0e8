// A simulated kernel under the real connection logic: loopback TCP with
// finite buffers, a listener with an accept queue, and the peers' ends of
// every connection, all in one thread and driven by hand (unit tests) or by
// a seeded simulation (sim/simulation.h). It implements transport::Transport
// the way a readiness transport does (ready events, then reads and writes at
// once), so Worker, Acceptor and Conn run on it unchanged.
//
// The model of one connection, as far as the spec's closing rules need it:
//
//   peer --send--> [server receive queue] --read--> server
//   server --write--> [server send queue: unacknowledged]
//          --deliver--> [peer receive queue] --recv--> peer
//
// A write takes what the send queue has room for (short writes, EAGAIN).
// deliver() moves bytes on as the peer's queue has room: they are then
// acknowledged (SIOCOUTQ counts only the send queue, plus a FIN not yet
// delivered). close() with unread input, or input arriving after close(),
// resets the connection: the send queue is lost, and the peer reads what
// its own queue holds, then ECONNRESET. Every such loss, and every other
// event, is recorded for the oracle (sim/oracle.h).
#pragma once

#include <cerrno>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framed/decoder.h"
#include "loop/clock.h"
#include "sim/rng.h"
#include "transport/transport.h"

namespace framed::sim {

struct SimOptions {
  std::size_t server_rcvbuf = 256U << 10U;  // Per connection.
  std::size_t server_sndbuf = 256U << 10U;  // Unacknowledged bytes, per connection.
  std::size_t peer_rcvbuf = 256U << 10U;
  std::size_t read_chunk = 64U << 10U;  // The most one read returns.
  std::size_t backlog = 64;             // The listen queue.
  // With an Rng: reads return a random share of what is there, writes are
  // sometimes short or refused, ready events come in random order.
  double short_write = 0.2;
  double spurious_eagain = 0.05;
  double unacked_unknown = 0.02;  // SIOCOUTQ fails (the kernel cannot tell).
  // A client completing its handshake while the server accepts the queue
  // at the stop, or just before the listener closes (a reconnect storm
  // racing the stop): unless the listener is sealed, it joins the queue.
  double arrival_during_accept = 0.0;
};

// One connection as both ends see it.
struct SimConn {
  enum class Phase : std::uint8_t {
    no_answer,  // SYN dropped (listener sealed or queue full): retried later.
    queued,     // Handshake complete, in the accept queue.
    accepted,   // The server holds a socket for it.
    refused,    // No listener: ECONNREFUSED.
  };
  std::size_t id = 0;
  net::Endpoint peer;
  Phase phase = Phase::no_answer;
  std::deque<std::byte> c2s;       // The server's receive queue.
  std::deque<std::byte> s2c_send;  // The server's send queue (unacknowledged).
  std::deque<std::byte> s2c_recv;  // The peer's receive queue.
  bool peer_fin = false;           // The peer shut down its write side.
  bool peer_rst = false;           // The peer reset the connection.
  bool server_fin = false;         // The server shut down its write side.
  bool fin_delivered = false;      // ... and the peer's kernel has the FIN.
  loop::TimePoint fin_delivered_at{};
  bool server_closed = false;  // The server closed its socket.
  bool server_rst = false;     // The server's close reset the connection.
  bool eof_read = false;       // The server read the peer's EOF.
  // For the oracle.
  std::uint64_t sent_by_peer = 0;            // Bytes the peer's sends put in c2s.
  std::uint64_t handed = 0;                  // Bytes the server read.
  std::uint64_t handed_at_fin = UINT64_MAX;  // ... when it shut down or closed.
  std::uint64_t written = 0;                 // Bytes the server wrote.
  std::uint64_t frames_written = 0;          // Frames whose last byte the server wrote.
  Decoder written_frames{0xFFFFFFFFU};       // Follows what the server wrote.
  std::uint64_t lost_to_reset = 0;           // Unacknowledged bytes a server reset lost.
  // The server's own input consumed (frame-stream bytes its decoder took)
  // when it shut down its write side or closed, whichever came first; and
  // whether it had read the peer's EOF by then.
  std::uint64_t consumed_at_fin = UINT64_MAX;
  bool eof_before_fin = false;
  bool opened = false;          // The server kept it (not refused).
  std::uint64_t abandoned = 0;  // Owed bytes the server's close gave up.
  loop::TimePoint last_ack{};   // The send queue last shrank (or was written).
  // The last progress the server could have seen: a write, or an
  // acknowledgement it learned of through unacked().
  loop::TimePoint last_progress_seen{};
  std::uint64_t acked_seen = 0;
  // The last time bytes moved as the server can know it: a read, a write,
  // an acknowledgement learned of (what its idle timeout counts).
  loop::TimePoint last_moved{};
  // Every read: when, and the bytes read in all after it.
  std::vector<std::pair<loop::TimePoint, std::uint64_t>> reads;
  // Every change of the server's wish to read, and when.
  std::vector<std::pair<loop::TimePoint, bool>> wants;
  loop::TimePoint accepted_at{};
  loop::TimePoint server_fin_at{};
  loop::TimePoint closed_at{};
  std::string close_note;               // Why the server's close reset, if it did.
  transport::Socket* socket = nullptr;  // The server's, while it holds one.
};

class SimTransport final : public transport::Transport {
 public:
  // `rng` may be null: then reads take everything there (up to read_chunk),
  // writes take everything that fits, and events come in connection order.
  SimTransport(transport::Sink& sink, const loop::Clock& clock, Rng* rng, SimOptions options);
  ~SimTransport() override;

  // --- transport::Transport (the server's side).
  [[nodiscard]] std::string_view name() const noexcept override { return "sim"; }
  net::SysError start() override { return {}; }
  net::SysError poll(int timeout_ms) override;
  void dispatch() override;
  void wake() noexcept override { woken_ = true; }
  net::SysError set_listener(net::UniqueFd listener) override;
  [[nodiscard]] bool has_listener() const noexcept override { return listening_; }
  void accepting(bool on) override { accepting_ = on; }
  std::size_t accept_queued(std::size_t max) override;
  bool shed_one() override;
  [[nodiscard]] std::size_t listener_queue() override { return queue_.size(); }
  net::SysError seal_listener() override {
    sealed_ = true;
    return {};
  }
  void close_listener() override;
  [[nodiscard]] bool accepts_pending() const noexcept override { return false; }
  // Outbound connections are not simulated: refused at once.
  transport::Socket* connect(const net::Endpoint& /*peer*/, net::SysError& error) override {
    error = {"connect (not simulated)", EOPNOTSUPP};
    return nullptr;
  }
  net::SysError open(transport::Socket& s) override;
  net::SysError update(transport::Socket& s, bool want_read) override;
  transport::Wrote send(transport::Socket& s,
                        std::span<const std::span<const std::byte>> spans) override;
  transport::Wrote flush(transport::Socket& s) override;
  void shutdown_write(transport::Socket& s) override;
  bool unacked(transport::Socket& s, std::size_t& out) override;
  void close(transport::Socket& s) override;
  void finish() override {}

  // --- The listener, as the simulation sets it up.
  // Opens the simulated listener (set_listener() takes no real socket).
  void listen() { listening_ = true; }
  // The next accept fails with `err` (EMFILE, ECONNABORTED, ...).
  void fail_next_accept(int err) { accept_errors_.push_back(err); }
  [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }

  // --- The peers' side.
  // A client connects from a new address (127.0.0.1, a new port). Returns
  // its connection's id.
  std::size_t connect();
  // A client connects from `from` (an address of the test's choice).
  std::size_t connect(const net::Endpoint& from);
  // Retries a connection that had no answer (its SYN was dropped).
  void retry(std::size_t id);
  // Puts what fits of `bytes` into the server's receive queue; returns how
  // many. A send to a connection the server has closed resets it.
  std::size_t peer_send(std::size_t id, std::span<const std::byte> bytes);
  // Takes up to `max` bytes from the peer's receive queue into `into`.
  std::size_t peer_recv(std::size_t id, std::vector<std::byte>& into, std::size_t max);
  void peer_shutdown(std::size_t id);
  void peer_reset(std::size_t id);
  // Moves up to `max` bytes (and then a FIN) from the server's send queue to
  // the peer's receive queue, as far as it has room: they are acknowledged.
  void deliver(std::size_t id, std::size_t max = SIZE_MAX);
  // The peer has read everything there will ever be: the FIN (EOF) or the
  // reset (ECONNRESET) is next.
  [[nodiscard]] bool peer_at_end(std::size_t id) const;
  [[nodiscard]] const SimConn& conn(std::size_t id) const { return *conns_[id]; }
  [[nodiscard]] std::size_t conn_count() const noexcept { return conns_.size(); }

  // Whether a poll() now would report anything.
  [[nodiscard]] bool ready() const;
  // Sockets the server holds open now.
  [[nodiscard]] std::size_t open_sockets() const noexcept { return open_; }

  // Every event, for the trace ("t=... conn 3 read 17").
  using Tracer = std::function<void(const std::string&)>;
  void set_tracer(Tracer t) { trace_ = std::move(t); }
  // Called when a connection gets reset by the server, with the bytes the
  // reset destroyed; the oracle decides whether the spec excuses it.
  using ResetHook = std::function<void(SimConn&)>;
  void on_server_reset(ResetHook h) { reset_hook_ = std::move(h); }
  // Called when the server closes a connection (any way), with the bytes
  // it still owed that the close gave up (its outbox, and what a reset
  // destroyed): the oracle asks whether the spec excuses them.
  using CloseHook = std::function<void(SimConn&)>;
  void on_server_close(CloseHook h) { close_hook_ = std::move(h); }
  // How far the server consumed a socket's input (the simulation knows the
  // connection behind it); read at the close.
  using ConsumedOf = std::function<std::uint64_t(transport::Socket&)>;
  void set_consumed_of(ConsumedOf f) { consumed_of_ = std::move(f); }
  // Calls `f(const transport::Socket&, const SimConn&)` for every socket
  // the server holds.
  void for_each_open(const std::function<void(const transport::Socket&, const SimConn&)>& f) const;
  [[nodiscard]] std::size_t refused_at_accept() const noexcept { return refused_; }
  [[nodiscard]] std::size_t shed() const noexcept { return shed_; }
  // Called when the listener closes with connections still queued (they
  // completed the handshake and are reset, never served).
  using QueueResetHook = std::function<void(std::size_t ids)>;
  void on_queue_reset(QueueResetHook h) { queue_reset_hook_ = std::move(h); }

 private:
  struct Sock;
  [[nodiscard]] static Sock& of(transport::Socket& s) noexcept;
  void note(const std::string& what) const;
  [[nodiscard]] bool readable(const Sock& s) const;
  [[nodiscard]] bool writable(const Sock& s) const;
  void on_readable(Sock& s);
  // Writes as much of `bytes` as the send queue takes now.
  std::size_t write_some(SimConn& c, std::span<const std::byte> bytes);
  void reset_by_server(SimConn& c, const std::string& why);
  std::size_t accept_one(std::size_t budget_left);
  [[nodiscard]] loop::TimePoint now() const noexcept { return clock_.now(); }

  transport::Sink& sink_;
  const loop::Clock& clock_;
  Rng* rng_;
  SimOptions options_;
  bool listening_ = false;
  bool sealed_ = false;  // SYNs are dropped: no new connection completes.
  bool accepting_ = false;
  bool woken_ = false;
  std::deque<std::size_t> queue_;  // Accept queue: connection ids.
  std::vector<int> accept_errors_;
  std::vector<std::unique_ptr<SimConn>> conns_;
  std::vector<std::unique_ptr<Sock>> socks_;  // Open server sockets.
  std::vector<std::unique_ptr<Sock>> closed_;
  std::vector<Sock*> events_;  // Ready sockets found by poll().
  bool listener_ready_ = false;
  std::size_t open_ = 0;
  Tracer trace_;
  ResetHook reset_hook_;
  CloseHook close_hook_;
  ConsumedOf consumed_of_;
  std::size_t refused_ = 0;  // Closed at accept, never opened.
  std::size_t shed_ = 0;
  void note_fin(Sock& s);
  QueueResetHook queue_reset_hook_;
};

}  // namespace framed::sim
