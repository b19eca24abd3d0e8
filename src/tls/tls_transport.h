// TLS as a layer over any transport (poll, epoll, io_uring): the record
// layer sits between the transport below, which moves ciphertext, and the
// connection logic above (core/conn.h), which sees plaintext exactly as it
// would without TLS. OpenSSL never touches a socket: a memory BIO feeds it
// the bytes the transport below read, and the records it writes go
// straight into the socket's outbox, so readiness and completion I/O work
// alike (the design notes' "BIO pair" idea, with one copy less).
//
// What the layer adds, and where:
//   - Accepted sockets get a session and Socket::handshaking until the
//     handshake is done; the connection waits in State::handshake meanwhile
//     (its deadline is --tls-handshake-timeout). Outbound sockets stay plain.
//   - Output is encrypted as it is sent. A frame counts as sent once the
//     last byte of the record that ends it is taken by the kernel (§6.9
//     over TLS), so the layer tracks where frames end in the ciphertext.
//   - end_output() queues close_notify: a graceful close sends it before
//     the FIN. A peer's close_notify is its EOF; a FIN without one (a
//     truncation) is treated as EOF too, and the framing tells whether a
//     frame was cut (spec §7).
//   - Input the connection paused on stays here (ciphertext, and records
//     OpenSSL decrypted ahead); once reading resumes it is delivered from
//     dispatch(), because no socket event would ever ask for it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "framed/decoder.h"
#include "framed/proxy.h"
#include "tls/context.h"
#include "transport/transport.h"

namespace framed::tls {

class TlsTransport final : public transport::Transport, public transport::Sink {
 public:
  // Reports to `sink` (the connections' side); takes each accepted
  // connection's context from `slot`, shared with the other workers. The transport below is given
  // by set_inner(), made with this object as its sink. With `proxy_first`, an accepted connection
  // begins with a PROXY header in plain text: it is passed up as it is
  // (the connection parses it), and the handshake begins after it.
  TlsTransport(std::shared_ptr<const ContextSlot> slot, transport::Sink& sink, bool proxy_first);
  ~TlsTransport() override;
  void set_inner(std::unique_ptr<transport::Transport> inner);

  // --- transport::Transport, over the transport below.
  [[nodiscard]] std::string_view name() const noexcept override { return inner_->name(); }
  net::SysError start() override { return inner_->start(); }
  net::SysError poll(int timeout_ms) override;
  void dispatch() override;
  void wake() noexcept override { inner_->wake(); }
  net::SysError set_listener(net::UniqueFd listener) override {
    return inner_->set_listener(std::move(listener));
  }
  [[nodiscard]] bool has_listener() const noexcept override { return inner_->has_listener(); }
  void accepting(bool on) override { inner_->accepting(on); }
  std::size_t accept_queued(std::size_t max) override { return inner_->accept_queued(max); }
  bool shed_one() override { return inner_->shed_one(); }
  [[nodiscard]] std::size_t listener_queue() override { return inner_->listener_queue(); }
  net::SysError seal_listener() override { return inner_->seal_listener(); }
  void close_listener() override { inner_->close_listener(); }
  [[nodiscard]] bool accepts_pending() const noexcept override { return inner_->accepts_pending(); }
  transport::Socket* connect(const net::Endpoint& peer, net::SysError& error) override {
    return inner_->connect(peer, error);
  }
  net::SysError open(transport::Socket& s) override { return inner_->open(s); }
  net::SysError update(transport::Socket& s, bool want_read) override;
  transport::Wrote send(transport::Socket& s,
                        std::span<const std::span<const std::byte>> spans) override;
  transport::Wrote flush(transport::Socket& s) override;
  void queue(transport::Socket& s, std::span<const std::byte> bytes) override;
  void end_output(transport::Socket& s) override;
  bool peer_certificate(transport::Socket& s, std::string& subject,
                        std::vector<std::string>& names) override;
  void shutdown_write(transport::Socket& s) override { inner_->shutdown_write(s); }
  bool unacked(transport::Socket& s, std::size_t& out) override { return inner_->unacked(s, out); }
  void close(transport::Socket& s) override;
  void finish() override;

  // --- transport::Sink, for the transport below.
  void on_accepted(transport::Socket& s, const net::Endpoint& peer) override;
  void on_accept_error(const net::SysError& error) override { sink_.on_accept_error(error); }
  transport::Flow on_input(transport::Socket& s, std::span<const std::byte> bytes) override;
  void on_eof(transport::Socket& s) override;
  void on_error(transport::Socket& s, const net::SysError& error) override {
    sink_.on_error(s, error);
  }
  void on_writable(transport::Socket& s) override { sink_.on_writable(s); }
  void on_sent(transport::Socket& s, std::size_t bytes, std::uint64_t frames) override;
  void on_connected(transport::Socket& s, const net::SysError& result) override {
    sink_.on_connected(s, result);
  }
  void on_settle(transport::Socket& s) override { sink_.on_settle(s); }
  void on_wake() override { sink_.on_wake(); }

  // One TLS connection's state (public for the BIO callbacks).
  struct Session;

 private:
  [[nodiscard]] static Session* of(transport::Socket& s) noexcept;
  // Feeds the session's input to OpenSSL: the handshake, then records
  // delivered as plaintext. Returns whether to read on.
  transport::Flow pump(Session& t);
  // Input is used up (OpenSSL wants more): reports a FIN that came behind
  // it. Returns Flow::more.
  transport::Flow end_of_input(Session& t);
  // Writes records OpenSSL queued by itself (handshake, tickets, alerts).
  // Returns false if the socket died (the sink has heard why).
  bool flush_own(Session& t);
  // The kernel took `bytes` more ciphertext: returns the frames that ended,
  // and how many of the bytes were echoes (not the layer's own records).
  struct Taken {
    std::uint64_t frames = 0;
    std::size_t app = 0;
  };
  static Taken taken(Session& t, std::size_t bytes);
  void fail(Session& t, const std::string& why);
  // Encrypts `spans` into the socket's outbox (small ones gathered into one
  // record) and notes where the frames they end lie. Returns false if
  // OpenSSL refused (a dead session).
  bool encrypt(Session& t, std::span<const std::span<const std::byte>> spans);

  std::shared_ptr<const ContextSlot> slot_;
  bool proxy_first_;
  transport::Sink& sink_;
  std::unique_ptr<transport::Transport> inner_;
  std::vector<std::byte> plain_;  // Decrypted input, one delivery's worth.
  std::vector<std::byte> stage_;  // Small spans gathered into one record.
  // Sessions with input kept back whose reading resumed.
  std::vector<Session*> resume_;
  // Closed during this turn: freed at its end, as the transports below do.
  std::vector<std::unique_ptr<Session>> closed_;
  std::vector<std::unique_ptr<Session>> sessions_;  // Open ones, unordered.
};

}  // namespace framed::tls
