// The two systemd protocols framed-server speaks, implemented directly so
// the server needs no libsystemd: socket activation (the sd_listen_fds
// contract: LISTEN_PID, LISTEN_FDS, descriptors from 3) and readiness
// notification (the sd_notify contract: datagrams to NOTIFY_SOCKET).
// Both are inert when their variables are unset, so the same binary runs
// by hand, under a supervisor, or as a Type=notify socket-activated unit.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <string>
#include <string_view>

#include "net/socket.h"

namespace framed::server::systemd {

// The first descriptor systemd passes (SD_LISTEN_FDS_START).
inline constexpr int kListenFdsStart = 3;

// What the environment said about inherited sockets.
struct ListenFds {
  int first = kListenFdsStart;
  int count = 0;      // Descriptors first .. first + count - 1, each now CLOEXEC.
  std::string error;  // Set when the variables are malformed or a descriptor is bad.
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

// Parses LISTEN_PID and LISTEN_FDS as sd_listen_fds(3) does. The sockets
// are ours only when LISTEN_PID names this process (`self`): a child that
// inherited the variables from its parent must not take the parent's
// descriptors, so any other pid yields count 0. A pid or count that is not
// a decimal number is an error; an unset or zero count is none. Each
// descriptor is marked FD_CLOEXEC, so no program we might start inherits
// a listener. With `unset_environment`, LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES are removed whatever the outcome, so they are read once.
// `first` exists for tests, which cannot own descriptor 3.
ListenFds listen_fds(bool unset_environment, pid_t self, int first = kListenFdsStart);

// Checks that `fd` is a listening TCP socket (IPv4 or IPv6); returns an
// empty string or the reason it is not.
std::string check_listening_tcp(int fd);

// A readiness channel to the service manager. Empty (every send a no-op)
// when NOTIFY_SOCKET is unset.
class Notifier {
 public:
  Notifier() = default;
  // Reads NOTIFY_SOCKET: an absolute path, or '@' and a name in the
  // abstract namespace. Anything else leaves the notifier empty with
  // `error` set. With `unset_environment` the variable is removed, so only
  // this process (never a child) speaks for the service.
  static Notifier from_environment(bool unset_environment, std::string& error);
  // Parses a NOTIFY_SOCKET value; false (and `error` set) if unusable.
  bool set_address(std::string_view value, std::string& error);

  [[nodiscard]] bool enabled() const noexcept { return len_ > 0; }
  // Sends `state` ("READY=1\nSTATUS=...") as one datagram. A no-op (success)
  // when not enabled.
  [[nodiscard]] net::SysError send(std::string_view state) const;

 private:
  sockaddr_un addr_{};
  socklen_t len_ = 0;
};

}  // namespace framed::server::systemd
