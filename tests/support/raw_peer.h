// A listening socket on 127.0.0.1 that a test drives by hand: a peer that
// accepts and then misbehaves (never reads, sends half a frame, closes).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "net/fd.h"
#include "net/socket.h"

namespace framed::test {

// A listening socket on 127.0.0.1 that the test drives by hand.
struct RawPeer {
  net::UniqueFd listener;
  std::uint16_t port = 0;
  explicit RawPeer(int backlog = 16) {
    std::vector<net::Endpoint> eps;
    std::string detail;
    EXPECT_TRUE(net::resolve("127.0.0.1", 0, true, eps, detail).ok());
    EXPECT_TRUE(net::listen_on(eps.front(), backlog, listener, net::ReusePort::none).ok());
    net::Endpoint bound;
    EXPECT_TRUE(net::local_endpoint(listener.get(), bound).ok());
    port = bound.port();
  }
  // Accepts one connection, waiting up to a second.
  net::UniqueFd accept_one() {
    for (int i = 0; i < 1000; ++i) {
      const int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return net::UniqueFd(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {};
  }
};

}  // namespace framed::test
