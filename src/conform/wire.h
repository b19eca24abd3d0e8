// One client connection to the server under test, and the exchange every case
// is built from: send bytes (whole, or cut into given writes), optionally
// half-close, and read the echo, with every wait bounded.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "net/fd.h"
#include "net/socket.h"

namespace framed::conform {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Connects to `ep` and waits for the handshake at most `timeout`. Returns an
// invalid fd with `error` set on failure.
net::UniqueFd connect_server(const net::Endpoint& ep, milliseconds timeout, std::string& error);

// What a case expects back on one connection.
struct Expect {
  // Bytes that must come back, in order and in full.
  std::vector<std::byte> echo;
  // Bytes that may follow the echo, but only as a prefix of these (the
  // partial frame a server may echo as it arrived).
  std::vector<std::byte> tolerated;
  // The server must close the connection after the echo.
  bool close = false;
};

// How a case sends its bytes.
struct SendPlan {
  std::span<const std::byte> data;
  // Sizes of successive writes (summing to data.size()); empty means "as
  // much as the socket takes each time".
  std::vector<std::size_t> writes;
  // A pause after each write in `writes`, so the server sees them in
  // separate reads instead of one coalesced read.
  milliseconds pause{0};
  // Shut down the write side after the last byte.
  bool shut_wr = false;
  // Read only when the socket refuses more writes, so the server's output
  // piles up (the half-close backlog case).
  bool lazy_read = false;
};

// What happened on the connection.
struct Outcome {
  std::vector<std::byte> received;
  std::size_t sent = 0;
  std::size_t writes = 0;
  bool eof = false;         // The server closed its side in order.
  std::string read_error;   // A read failed (ECONNRESET, ...): also a close.
  std::string write_error;  // A write failed (EPIPE, ...).
  bool timed_out = false;   // Nothing moved for the whole timeout.
  bool diverged = false;    // Received bytes no Expect allows: stopped early.
  [[nodiscard]] bool closed() const { return eof || !read_error.empty(); }
};

// Runs `plan` on `fd` while reading, then reads until the expectation is met
// (all echo bytes, and a close when `expect.close`), the bytes diverge from
// it, the server closes, or nothing moves for `timeout`.
Outcome transfer(int fd, const SendPlan& plan, const Expect& expect, milliseconds timeout);

// poll(2) on one descriptor for at most `timeout`, retried on EINTR. Returns
// the revents, 0 on timeout, POLLERR if poll itself failed.
short wait_for(int fd, short events, milliseconds timeout);

// Reads whatever arrives until the server closes or `timeout` passes with no
// byte; returns the outcome (used where a case only waits for a close).
Outcome wait_for_close(int fd, milliseconds timeout);

}  // namespace framed::conform
