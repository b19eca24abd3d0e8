// Thin, exception-free wrappers over the socket calls framed uses. Every
// socket is created SOCK_NONBLOCK | SOCK_CLOEXEC. Failures come back as a
// SysError naming the call and errno, e.g. "accept4: Too many open files".
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "net/fd.h"

namespace framed::net {

// A failed system call: which call, and its errno. code == 0 means success.
struct SysError {
  const char* call = nullptr;
  int code = 0;

  [[nodiscard]] bool ok() const noexcept { return code == 0; }
  // "call: strerror(code)"; with code -1 (not an errno: a TLS failure),
  // `call` alone, which then says it all.
  [[nodiscard]] std::string message() const;
};

// A socket address of either family, with its textual form.
struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  // "127.0.0.1:7777" or "[::1]:7777".
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] std::uint16_t port() const;
};

// Resolves host (a literal or a name, through getaddrinfo) and port. On
// failure returns a SysError with call "getaddrinfo" and fills `detail` with
// gai_strerror's text; `out` receives all candidates in resolver order.
SysError resolve(const std::string& host, std::uint16_t port, bool passive,
                 std::vector<Endpoint>& out, std::string& detail);

// SO_REUSEPORT, which lets several sockets listen on one address (the kernel
// spreads connections across them), for the sockets of one server only.
enum class ReusePort : std::uint8_t {
  none,   // Not set: the address must be free.
  first,  // The first socket of a group: bound without it, so that binding
          // fails as usual if anyone listens there already (even another
          // group), then set before listen() so the group's others can join.
  join,   // Joins the group of a `first` socket already listening there.
};

// Creates a listening socket bound to `ep` with SO_REUSEADDR (IPV6_V6ONLY for
// IPv6), sets `out` and returns success, or the failing call.
SysError listen_on(const Endpoint& ep, int backlog, UniqueFd& out,
                   ReusePort reuse_port = ReusePort::none);

// The local address of a bound socket.
SysError local_endpoint(int fd, Endpoint& out);

// Starts a non-blocking connect to `ep`. Success means connected or in
// progress (EINPROGRESS); the caller waits for POLLOUT and checks
// connect_result().
SysError connect_to(const Endpoint& ep, UniqueFd& out);
// After POLLOUT on a connecting socket: SO_ERROR as a SysError("connect").
SysError connect_result(int fd);

// Result of one read or write on a non-blocking socket.
struct IoResult {
  std::size_t bytes = 0;  // Bytes moved (0 with eof or would_block).
  bool eof = false;       // read only: the peer closed its write side.
  bool would_block = false;
  SysError error{};  // Set for a real failure (not EAGAIN, not EINTR).
};

// read(2), retried on EINTR.
IoResult read_some(int fd, std::span<std::byte> buf);
// sendmsg(2) with MSG_NOSIGNAL (a dead peer yields EPIPE, never SIGPIPE),
// retried on EINTR.
IoResult write_some(int fd, std::span<const std::byte> buf);

// Writes `first` then `second` in one sendmsg(2) (MSG_NOSIGNAL), retried on
// EINTR. `bytes` counts from the start of `first`.
IoResult write_pair(int fd, std::span<const std::byte> first, std::span<const std::byte> second);

// Writes the spans in order with one sendmsg(2) (MSG_NOSIGNAL), retried on
// EINTR; at most IOV_MAX spans are attempted, so `bytes` may stop short of
// the later ones. `bytes` counts from the start of the first span.
IoResult write_spans(int fd, std::span<const std::span<const std::byte>> spans);

// Sets an int socket option; returns the failing call on error.
SysError set_int_option(int fd, int level, int name, int value);

// Disables Nagle's algorithm, so small echoes leave at once.
SysError set_nodelay(int fd);

// The bytes written to a connected TCP socket that the peer has not yet
// acknowledged, unsent ones included (ioctl SIOCOUTQ, Linux; a FIN queued by
// shutdown(SHUT_WR) counts as one). Zero means everything written, FIN
// included, has reached the peer's kernel, so a reset can no longer destroy
// it. Sets `out` and returns success, or the failing call.
SysError unacked_bytes(int fd, std::size_t& out);

// Makes the kernel complete no more connections on a listening socket: a
// socket filter that drops every packet it sees (SO_ATTACH_FILTER). SYNs
// go unanswered and handshakes in progress never finish, while the
// connections already queued stay acceptable (and their sockets unfiltered).
// Once the listener closes, clients still trying are refused. The first
// step of a stop that must reset no one: closing a listener resets what it
// queued, and without this a client could join the queue between the last
// accept and the close. Returns the failing call, if any.
SysError seal_listener(int fd);

// The connections a listening TCP socket has queued now (TCP_INFO's
// tcpi_unacked, which the kernel reports as the accept queue's length for
// a listener). Returns the failing call, if any.
SysError listen_queue_length(int fd, std::size_t& out);

}  // namespace framed::net
