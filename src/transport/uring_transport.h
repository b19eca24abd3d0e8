// The completion transport: io_uring through loop::Ring. Requests are a few
// accepts on the listener, each re-armed as it completes (a multishot
// accept reports no peer address, which the logs and --proxy-from need,
// and getpeername() fails for a peer that reset meanwhile, such as a
// proxy's health check); a multishot poll on the wake-up eventfd; and per
// socket one receive into the ring's provided buffers, re-armed per
// completion (see Ring::recv for why not multishot), and at most one send
// (two sends on one socket may complete out of order), from the receive
// buffer itself when the socket is idle, else from the pinned outbox.
// Everything queued is submitted, and every completion reaped, by the one
// io_uring_enter of Ring::wait().
//
// The hazards, and where they are handled:
// - A late completion for a closed socket whose slot (and descriptor
//   number) a new socket reuses: user_data carries the slot and the low
//   bits of the socket's generation, and a closed socket with requests in
//   flight keeps its slot (a zombie) until its last completion. Its
//   descriptor stays open until then, so no request ever names a
//   descriptor number that was reused.
// - An empty buffer ring ends a receive with -ENOBUFS: the data stays in
//   the socket, and the socket queues for a re-arm, a ring's worth per
//   dispatch, oldest first (re-arming all at once would fail again for all
//   but a few: a storm of requests per buffer freed). Receives wait for
//   readability before taking a buffer, so idle sockets never hold or lack
//   one, and one slow peer cannot starve the others.
// - A multishot completion without IORING_CQE_F_MORE (the wake-up poll)
//   ended that request: re-armed while wanted.
// - Backpressure: with reading off the receive is cancelled and not
//   re-armed; bytes it delivered before the cancel took effect (one buffer
//   at most) are still reported.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <vector>

#include "loop/uring.h"
#include "transport/transport.h"

namespace framed::transport {

class UringTransport final : public Transport {
 public:
  // Takes a ring created disabled (see loop::RingOptions), enabled by
  // start() on the loop's thread. `buffers` and `buffer_size` are the
  // ring's provided buffers. Reports to `sink`.
  UringTransport(std::unique_ptr<loop::Ring> ring, unsigned buffers, std::size_t buffer_size,
                 Sink& sink);
  ~UringTransport() override;

  // Creates the wake-up eventfd. Returns the failing call, if any.
  net::SysError init();

  [[nodiscard]] std::string_view name() const noexcept override { return "io_uring"; }
  net::SysError start() override;

  net::SysError poll(int timeout_ms) override;
  void dispatch() override;
  void wake() noexcept override;

  net::SysError set_listener(net::UniqueFd listener) override;
  [[nodiscard]] bool has_listener() const noexcept override { return listener_.valid(); }
  void accepting(bool on) override;
  std::size_t accept_queued(std::size_t max) override;
  bool shed_one() override;
  [[nodiscard]] std::size_t listener_queue() override;
  net::SysError seal_listener() override;
  void close_listener() override;
  [[nodiscard]] bool accepts_pending() const noexcept override { return accepts_armed_ > 0; }

  Socket* connect(const net::Endpoint& peer, net::SysError& error) override;
  net::SysError open(Socket& s) override;
  net::SysError update(Socket& s, bool want_read) override;
  Wrote send(Socket& s, std::span<const std::span<const std::byte>> spans) override;
  Wrote flush(Socket& s) override;
  void shutdown_write(Socket& s) override;
  bool unacked(Socket& s, std::size_t& out) override;
  void close(Socket& s) override;
  void finish() override;

 private:
  struct Sock;
  [[nodiscard]] static Sock& of(Socket& s) noexcept;
  [[nodiscard]] static std::uint64_t data(const Sock& s, unsigned op) noexcept;
  Sock& make_socket(int fd);
  void arm_accept();
  void stop_accept();
  void on_completion(const loop::Completion& done);
  void on_accept(const loop::Completion& done);
  void on_recv(Sock& s, const loop::Completion& done);
  void on_send(Sock& s, const loop::Completion& done);
  // Starts a send of what is held or queued, if none is in flight.
  void start_send(Sock& s);
  // Sends `spans` straight from the provided buffer being delivered
  // (holding it until the send completes), if they are one view of it,
  // nothing is queued or in flight on the socket, and fewer than half the
  // ring's buffers are held. Returns false otherwise.
  bool send_direct(Sock& s, std::span<const std::span<const std::byte>> spans);
  void release_held(Sock& s);
  // Re-arms receives that ran out of buffers, oldest first, no more than
  // there are buffers free (so they do not all fail again at once).
  void rearm_starved();
  // A closed socket with nothing in flight: its slot is freed.
  void free_socket(Sock& s);

  std::unique_ptr<loop::Ring> ring_;
  unsigned buffers_;
  std::size_t buffer_size_;
  Sink& sink_;
  std::vector<loop::Completion> completions_;
  bool started_ = false;
  bool stopping_ = false;  // finish() is tearing down.
  net::UniqueFd wake_;
  bool wake_armed_ = false;  // The eventfd's multishot poll.
  net::UniqueFd listener_;
  bool accepting_ = false;  // Accepts wanted (armed once started).
  // Accepts kept in flight, each with the address it fills.
  struct Accept {
    sockaddr_storage addr{};
    socklen_t len = 0;
    bool armed = false;
  };
  std::array<Accept, 8> accepts_{};
  std::size_t accepts_armed_ = 0;
  int recv_buffer_ = -1;           // The provided buffer being delivered.
  bool recv_buffer_kept_ = false;  // ... which a direct send now holds.
  std::size_t held_buffers_ = 0;   // Buffers held for direct sends.
  std::deque<std::pair<std::uint32_t, std::uint32_t>> starved_;  // (slot, generation)
  std::vector<std::unique_ptr<Sock>> socks_;                     // By slot; zombies keep theirs.
  std::vector<std::uint32_t> free_;
  std::uint32_t next_generation_ = 1;
  std::size_t zombies_ = 0;  // Closed, with requests still in flight.
  // Freed during this dispatch: released at its end (see readiness.h).
  std::vector<std::unique_ptr<Sock>> closed_;
};

}  // namespace framed::transport
