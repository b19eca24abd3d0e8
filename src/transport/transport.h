// How bytes move between sockets and the connection logic: nginx's
// ngx_os_io_t idea, one table of operations per kind of I/O, so that the
// logic (core/conn.h) is written once and never asks which kind it has.
//
// Two kinds exist. Readiness (poll, epoll: transport/readiness.h) is told
// that a socket is ready, then reads and writes at once. Completion
// (io_uring: transport/uring_transport.h) submits receives and sends and
// hears later what they did. The seam hides the difference: a transport
// reports what happened to its Sink (bytes arrived, EOF, an error, output
// taken by the kernel), and takes orders (read or not, send these bytes,
// shut down the write side, close).
//
// Ownership follows libuv's rule: a Socket belongs to its transport and is
// freed by it only once nothing can refer to it any more. After close() the
// connection forgets it; a completion transport keeps it (and the bytes a
// send is still reading) until the kernel's last completion for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loop/event_loop.h"
#include "net/fd.h"
#include "net/socket.h"
#include "transport/outbox.h"

namespace framed::transport {

// One connected socket as the connection logic sees it.
struct Socket {
  // Bytes owed to the peer that the kernel has not taken yet.
  Outbox out;
  // Bytes a completion transport sends straight from a receive buffer,
  // ahead of `out`, not yet taken: they count as pending output too.
  std::size_t held = 0;
  // A send is in flight (completion transports): its bytes go out before
  // anything else, the FIN included.
  bool sending = false;
  // The connection this socket serves, for the Sink; null once closed.
  void* owner = nullptr;
  // A layer's state for this socket (TLS: its session), owned by the layer.
  void* layer = nullptr;
  // A layer's handshake is under way (TLS): nothing can be sent yet, and
  // the connection waits for it to finish (core/conn.h, State::handshake).
  bool handshaking = false;

  // Everything owed and not yet taken by the kernel.
  [[nodiscard]] std::size_t pending() const noexcept { return out.size() + held; }
};

// What a write did at once. A completion transport reports 0 here and the
// bytes later, through Sink::on_sent.
struct Wrote {
  std::size_t bytes = 0;     // Taken by the kernel now.
  std::uint64_t frames = 0;  // Frames whose last byte that included.
  net::SysError error{};     // The write failed: the connection is dead.
};

// Whether a transport should go on reading a socket after an input.
enum class Flow : std::uint8_t { more, stop };

// What a transport reports to, on the loop's thread. Every call names a
// socket that is open (never one already closed).
class Sink {
 public:
  virtual ~Sink() = default;
  // The listener accepted a connection from `peer`. The sink either opens
  // it (Transport::open) or closes it (Transport::close) before returning.
  virtual void on_accepted(Socket& s, const net::Endpoint& peer) = 0;
  // An accept failed (not with EAGAIN, nor with a transient error such as
  // ECONNABORTED, which the transport skips). `error` names the call.
  virtual void on_accept_error(const net::SysError& error) = 0;
  // Bytes arrived (not empty; valid during the call only). Returns whether
  // the transport should read on now.
  virtual Flow on_input(Socket& s, std::span<const std::byte> bytes) = 0;
  // The peer ended its input.
  virtual void on_eof(Socket& s) = 0;
  // A read or a send failed: the connection is dead.
  virtual void on_error(Socket& s, const net::SysError& error) = 0;
  // Readiness: the socket can take output.
  virtual void on_writable(Socket& s) = 0;
  // Completion: a send finished; the kernel took `bytes`, completing
  // `frames` frames (the outbox is already updated).
  virtual void on_sent(Socket& s, std::size_t bytes, std::uint64_t frames) = 0;
  // An outbound connect (Transport::connect) finished: `result` is empty
  // on success (the sink then opens the socket, or closes it) or names
  // why it failed (the sink closes the socket).
  virtual void on_connected(Socket& s, const net::SysError& result) = 0;
  // The events of one socket in this batch are done (after on_input,
  // on_eof, on_writable or on_sent): the place to settle its state.
  virtual void on_settle(Socket& s) = 0;
  // wake() was called.
  virtual void on_wake() = 0;
};

class Transport : public loop::Io {
 public:
  // The kind of I/O, as the command line spells it ("epoll", "io_uring").
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  // Called once on the loop's own thread before its first poll() (an
  // io_uring ring accepts submissions only from the thread that enabled
  // it). Returns the failing call, if any.
  virtual net::SysError start() = 0;

  // --- The listener (at most one).
  // Takes the listening socket (non-blocking). Accepting starts off.
  virtual net::SysError set_listener(net::UniqueFd listener) = 0;
  [[nodiscard]] virtual bool has_listener() const noexcept = 0;
  // Keeps accepts going (reported through Sink::on_accepted), or pauses
  // them; the kernel queues connections meanwhile.
  virtual void accepting(bool on) = 0;
  // Accepts, now, up to `max` connections the kernel has queued (each
  // reported through on_accepted), stopping at the first EAGAIN. Returns
  // how many it accepted.
  virtual std::size_t accept_queued(std::size_t max) = 0;
  // After EMFILE: accepts one queued connection and closes it at once (the
  // caller has freed a descriptor for it). Returns true if one was shed.
  virtual bool shed_one() = 0;
  // The connections the kernel has queued on the listener now; SIZE_MAX
  // when it cannot tell.
  [[nodiscard]] virtual std::size_t listener_queue() = 0;
  // Makes the kernel complete no more connections on the listener
  // (net::seal_listener): those it queued stay acceptable; later clients
  // get no answer, then a refusal once the listener closes. Returns the
  // failing call, if any.
  virtual net::SysError seal_listener() = 0;
  // Stops accepting and closes the listener once no accept can still be
  // taking a connection from it.
  virtual void close_listener() = 0;
  // Accepts that may still report a connection (a completion transport's
  // requests in flight after close_listener()).
  [[nodiscard]] virtual bool accepts_pending() const noexcept = 0;

  // --- Outbound connections.
  // Begins connecting a new non-blocking socket to `peer`. Returns it (the
  // transport owns it, as an accepted one) or null with `error` set; the
  // outcome comes through Sink::on_connected, never during this call.
  virtual Socket* connect(const net::Endpoint& peer, net::SysError& error) = 0;

  // --- Connections.
  // Starts serving an accepted (or connected) socket (no delay, registered
  // for events).
  virtual net::SysError open(Socket& s) = 0;
  // Brings the socket's interest up to date: receive or not, and send
  // whatever `out` holds. Returns the failing call, if any.
  virtual net::SysError update(Socket& s, bool want_read) = 0;
  // Sends `spans` (views valid during the call only) after everything owed
  // before, which must be nothing: the echo of the input being delivered,
  // written straight from where it lies when possible. Bytes not sent at
  // once are copied to `out` (or held, by a completion transport).
  virtual Wrote send(Socket& s, std::span<const std::span<const std::byte>> spans) = 0;
  // Appends `bytes` to the output (after everything before), to be written
  // by a later flush(): the one way bytes enter `out` from above, so that a
  // layer (TLS) sees them. Plain transports copy them as they are.
  virtual void queue(Socket& s, std::span<const std::byte> bytes) { s.out.queue(bytes); }
  // Writes what `out` holds, as far as the socket takes it now.
  virtual Wrote flush(Socket& s) = 0;
  // A layer's verified peer certificate (TLS, mutual): its subject and
  // subject alternative names. Returns false when there is none.
  virtual bool peer_certificate(Socket& /*s*/, std::string& /*subject*/,
                                std::vector<std::string>& /*names*/) {
    return false;
  }
  // No more output will follow what was sent: a layer queues its own end
  // (TLS: close_notify) in `out`, to go before the FIN. Plain transports
  // have nothing to add.
  virtual void end_output(Socket& /*s*/) {}
  // Shuts down the write side (a FIN after everything sent).
  virtual void shutdown_write(Socket& s) = 0;
  // The bytes written that the peer has not acknowledged (SIOCOUTQ; a FIN
  // counts as one). Returns false if the kernel cannot tell.
  virtual bool unacked(Socket& s, std::size_t& out) = 0;
  // The connection is done with the socket; the transport closes it and
  // frees it once nothing refers to it. No Sink call names it afterwards.
  virtual void close(Socket& s) = 0;

  // --- The end.
  // Stops everything still in flight and waits (bounded) until the kernel
  // is done with every buffer: call after every socket is closed, before
  // the transport is destroyed.
  virtual void finish() = 0;
};

}  // namespace framed::transport
