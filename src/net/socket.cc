#include "net/socket.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <vector>

namespace framed::net {

std::string SysError::message() const {
  if (code == -1) return call != nullptr ? call : "?";
  return std::string(call != nullptr ? call : "?") + ": " + std::strerror(code);
}

std::string Endpoint::to_string() const {
  char host[INET6_ADDRSTRLEN] = "?";
  const bool v6 = addr.ss_family == AF_INET6;
  if (v6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, host,
              sizeof host);
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, host, sizeof host);
  }
  // snprintf rather than string concatenation: gcc 12 at -O3 reports a false
  // -Wrestrict on the latter.
  char text[INET6_ADDRSTRLEN + 16];
  std::snprintf(text, sizeof text, v6 ? "[%s]:%u" : "%s:%u", host, static_cast<unsigned>(port()));
  return text;
}

std::uint16_t Endpoint::port() const {
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

SysError resolve(const std::string& host, std::uint16_t port, bool passive,
                 std::vector<Endpoint>& out, std::string& detail) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    detail = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
    return {"getaddrinfo", rc == EAI_SYSTEM ? errno : EINVAL};
  }
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    Endpoint ep;
    std::memcpy(&ep.addr, ai->ai_addr, ai->ai_addrlen);
    ep.len = ai->ai_addrlen;
    out.push_back(ep);
  }
  freeaddrinfo(list);
  return {};
}

SysError set_int_option(int fd, int level, int name, int value) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) return {"setsockopt", errno};
  return {};
}

SysError set_nodelay(int fd) { return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1); }

SysError unacked_bytes(int fd, std::size_t& out) {
  int queued = 0;
  if (::ioctl(fd, SIOCOUTQ, &queued) != 0) return {"ioctl(SIOCOUTQ)", errno};
  out = queued > 0 ? static_cast<std::size_t>(queued) : 0;
  return {};
}

SysError seal_listener(int fd) {
  // One instruction: accept 0 bytes of every packet, that is, drop it.
  sock_filter drop_all[] = {{BPF_RET | BPF_K, 0, 0, 0}};
  const sock_fprog program{1, drop_all};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
    return {"setsockopt(SO_ATTACH_FILTER)", errno};
  }
  return {};
}

SysError listen_queue_length(int fd, std::size_t& out) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
    return {"getsockopt(TCP_INFO)", errno};
  out = info.tcpi_unacked;
  return {};
}

SysError listen_on(const Endpoint& ep, int backlog, UniqueFd& out, ReusePort reuse_port) {
  UniqueFd fd(socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return {"socket", errno};
  if (auto e = set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1); !e.ok()) return e;
  if (reuse_port == ReusePort::join) {
    if (auto e = set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1); !e.ok()) return e;
  }
  if (ep.addr.ss_family == AF_INET6) {
    if (auto e = set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1); !e.ok()) return e;
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0) {
    return {"bind", errno};
  }
  if (reuse_port == ReusePort::first) {
    // After bind(): a socket with SO_REUSEPORT would have joined any group
    // already listening here (another server's), silently taking a share
    // of its connections. Bound without it, the bind fails instead; set
    // now, before listen(), it lets our own workers' sockets join ours.
    if (auto e = set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1); !e.ok()) return e;
  }
  if (listen(fd.get(), backlog) != 0) return {"listen", errno};
  out = std::move(fd);
  return {};
}

SysError local_endpoint(int fd, Endpoint& out) {
  out.len = sizeof out.addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&out.addr), &out.len) != 0) {
    return {"getsockname", errno};
  }
  return {};
}

SysError connect_to(const Endpoint& ep, UniqueFd& out) {
  UniqueFd fd(socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return {"socket", errno};
  // Small frames should not wait for Nagle's algorithm.
  (void)set_nodelay(fd.get());
  int rc = 0;
  do {
    rc = connect(fd.get(), reinterpret_cast<const sockaddr*>(&ep.addr), ep.len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EINPROGRESS) return {"connect", errno};
  out = std::move(fd);
  return {};
}

SysError connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return {"getsockopt", errno};
  return {"connect", err};
}

IoResult read_some(int fd, std::span<std::byte> buf) {
  IoResult r;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      r.bytes = static_cast<std::size_t>(n);
    } else if (n == 0) {
      r.eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      r.would_block = true;
    } else {
      r.error = {"read", errno};
    }
    return r;
  }
}

IoResult write_pair(int fd, std::span<const std::byte> first, std::span<const std::byte> second) {
  const std::span<const std::byte> both[2] = {first, second};
  return write_spans(fd, both);
}

IoResult write_some(int fd, std::span<const std::byte> buf) { return write_pair(fd, {}, buf); }

IoResult write_spans(int fd, std::span<const std::span<const std::byte>> spans) {
  constexpr std::size_t kMaxIov = 1024;  // IOV_MAX on Linux.
  iovec iov[kMaxIov];
  std::size_t n = 0;
  for (const auto& s : spans) {
    if (n == kMaxIov) break;
    if (s.empty()) continue;
    iov[n++] = {const_cast<std::byte*>(s.data()), s.size()};
  }
  IoResult r;
  if (n == 0) return r;
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  for (;;) {
    const ssize_t sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (sent >= 0) {
      r.bytes = static_cast<std::size_t>(sent);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      r.would_block = true;
    } else {
      r.error = {"sendmsg", errno};
    }
    return r;
  }
}

}  // namespace framed::net
