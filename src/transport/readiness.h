// The readiness transport: poll(2) or epoll(7) behind loop::Poller says a
// socket is ready; this reads into one buffer per worker and writes with
// sendmsg(2) at once. An echo of a read is written straight from the read
// buffer, and only what the socket does not take is copied to the outbox.
#pragma once

#include <memory>
#include <vector>

#include "loop/poller.h"
#include "transport/transport.h"

namespace framed::transport {

class ReadinessTransport final : public Transport {
 public:
  // Reads `read_chunk` bytes at most per read(2). Reports to `sink`.
  ReadinessTransport(std::unique_ptr<loop::Poller> poller, std::size_t read_chunk, Sink& sink);
  ~ReadinessTransport() override;

  // Creates the wake-up eventfd and registers it. Returns the failing call.
  net::SysError init();

  [[nodiscard]] std::string_view name() const noexcept override { return poller_->name(); }

  net::SysError start() override { return {}; }
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
  [[nodiscard]] bool accepts_pending() const noexcept override { return false; }

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
  // Accepts up to `budget` connections; stops at EAGAIN, an error, or a
  // pause. Returns how many it reported.
  std::size_t accept_some(std::size_t budget);
  // A slot for a new socket on `fd`.
  Sock& make_socket(int fd);
  void on_readable(Sock& s);
  // An error or hang-up on a socket neither read nor written: reported as
  // the socket's error (SO_ERROR, else ECONNRESET).
  void on_stalled_error(Sock& s);

  std::unique_ptr<loop::Poller> poller_;
  Sink& sink_;
  std::vector<std::byte> read_buf_;
  std::vector<loop::Event> events_;
  net::UniqueFd wake_;
  net::UniqueFd listener_;
  bool accepting_ = false;                    // The listener is registered with read interest.
  std::vector<std::unique_ptr<Sock>> socks_;  // By index; the token names it.
  std::vector<std::uint32_t> free_;
  std::uint32_t next_generation_ = 1;  // Tells sockets in one slot apart.
  // Closed during this dispatch: freed at its end, so that code still
  // holding a reference (the read loop, a sink) never sees it vanish.
  std::vector<std::unique_ptr<Sock>> closed_;
};

}  // namespace framed::transport
