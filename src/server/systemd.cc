#include "server/systemd.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "util/parse.h"

namespace framed::server::systemd {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

ListenFds parse_listen_fds(pid_t self, int first) {
  ListenFds out;
  out.first = first;
  const char* pid_text = std::getenv("LISTEN_PID");
  if (pid_text == nullptr) return out;  // Not socket-activated.
  const auto pid = util::parse_uint(pid_text, INT_MAX);
  if (!pid) {
    out.error = "LISTEN_PID is not a process id: '" + std::string(pid_text) + "'";
    return out;
  }
  // The variables were meant for another process (our parent, which
  // forgot to unset them): these descriptors are not ours to take.
  if (static_cast<pid_t>(*pid) != self) return out;
  const char* count_text = std::getenv("LISTEN_FDS");
  if (count_text == nullptr) return out;
  const auto count = util::parse_uint(count_text, static_cast<std::uint64_t>(INT_MAX - first));
  if (!count) {
    out.error = "LISTEN_FDS is not a descriptor count: '" + std::string(count_text) + "'";
    return out;
  }
  const int n = static_cast<int>(*count);
  for (int fd = first; fd < first + n; ++fd) {
    // Marked close-on-exec as sd_listen_fds does: the manager passed them
    // to us, not to whatever we might exec.
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
      out.error = "descriptor " + std::to_string(fd) + " from LISTEN_FDS: " + errno_text(errno);
      return out;
    }
  }
  out.count = n;
  return out;
}

}  // namespace

ListenFds listen_fds(bool unset_environment, pid_t self, int first) {
  ListenFds out = parse_listen_fds(self, first);
  if (unset_environment) {
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
  }
  return out;
}

std::string check_listening_tcp(int fd) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0) {
    return "descriptor " + std::to_string(fd) + " is not a socket: " + errno_text(errno);
  }
  if (value != SOCK_STREAM) return "descriptor " + std::to_string(fd) + " is not a stream socket";
  len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0 ||
      (value != AF_INET && value != AF_INET6)) {
    return "descriptor " + std::to_string(fd) + " is not an IPv4 or IPv6 socket";
  }
  len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || value == 0) {
    return "descriptor " + std::to_string(fd) + " is not listening";
  }
  return {};
}

Notifier Notifier::from_environment(bool unset_environment, std::string& error) {
  Notifier n;
  if (const char* value = std::getenv("NOTIFY_SOCKET"); value != nullptr) {
    (void)n.set_address(value, error);
  }
  if (unset_environment) ::unsetenv("NOTIFY_SOCKET");
  return n;
}

bool Notifier::set_address(std::string_view value, std::string& error) {
  len_ = 0;
  addr_ = {};
  addr_.sun_family = AF_UNIX;
  // An abstract name has no terminating NUL, a path has one; both must fit.
  const bool abstract = value.starts_with('@');
  if (value.size() < 2 || (!abstract && !value.starts_with('/')) ||
      value.size() + (abstract ? 0 : 1) > sizeof addr_.sun_path) {
    error = "NOTIFY_SOCKET is neither an absolute path nor an abstract name: '" +
            std::string(value) + "'";
    return false;
  }
  std::memcpy(addr_.sun_path, value.data(), value.size());
  // The leading '@' stands for the NUL that puts a name in the abstract
  // namespace; the address length, not a NUL, ends such a name.
  if (abstract) addr_.sun_path[0] = '\0';
  len_ =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size() + (abstract ? 0 : 1));
  return true;
}

net::SysError Notifier::send(std::string_view state) const {
  if (!enabled()) return {};
  const net::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return {"socket", errno};
  ssize_t n = 0;
  do {
    n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr_), len_);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return {"sendto NOTIFY_SOCKET", errno};
  return {};
}

}  // namespace framed::server::systemd
