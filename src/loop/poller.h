// The narrow interface between the event loop and a readiness backend, in
// the style of Redis's ae: watch a descriptor with an interest, change or
// drop the interest, and wait for ready events. The loop owns the
// descriptors and all connection logic; a backend only reports readiness.
//
// Tokens are the caller's: a 64-bit value returned with every event for the
// descriptor, so the loop can tell a stale event (for a connection closed
// earlier in the same batch) from one for a new connection that reused the
// descriptor number.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "framed/server.h"
#include "net/socket.h"

namespace framed::loop {

// What the caller wants to hear about. kNone keeps a descriptor registered
// but silent (a paused listener).
enum Interest : unsigned { kNone = 0, kRead = 1, kWrite = 2 };

struct Event {
  std::uint64_t token = 0;
  bool readable = false;  // Data, EOF, or a pending connection.
  bool writable = false;
  bool error = false;  // Error or hang-up: the next read or write says which.
};

class Poller {
 public:
  virtual ~Poller() = default;

  // The backend's name as the command line spells it ("poll", "epoll").
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;

  // Starts watching `fd` (not watched yet) for `interest`; its events carry
  // `token`. Returns the failing call, if any.
  virtual net::SysError add(int fd, std::uint64_t token, unsigned interest) = 0;
  // Changes the interest (and token) of a watched descriptor.
  virtual net::SysError modify(int fd, std::uint64_t token, unsigned interest) = 0;
  // Stops watching `fd`; call before closing it. Events for it already
  // returned by wait() stay in the caller's batch: the token tells.
  virtual void remove(int fd) noexcept = 0;

  // Waits up to `timeout_ms` (-1: no limit) and replaces the contents of
  // `out` with the ready events, in no particular order. An interrupted wait
  // (EINTR) returns success with no events. Work is proportional to the
  // events returned (plus, for poll(2), the kernel's scan).
  virtual net::SysError wait(int timeout_ms, std::vector<Event>& out) = 0;
};

using Backend = framed::Backend;

// Parses "auto", "poll", "epoll" or "io_uring".
bool parse_backend(std::string_view text, Backend& out);
[[nodiscard]] std::string_view to_string(Backend backend) noexcept;

// Creates a readiness backend (poll or epoll; null for the others). On
// failure returns null and sets `error` to the failing call
// ("epoll_create1: Too many open files").
std::unique_ptr<Poller> make_poller(Backend backend, net::SysError& error);

// One file per backend.
std::unique_ptr<Poller> make_poll_poller();
std::unique_ptr<Poller> make_epoll_poller(net::SysError& error);

}  // namespace framed::loop
