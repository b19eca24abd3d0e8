// Socket helpers for integration tests: every wait is bounded in time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/fd.h"

namespace framed::test {

using std::chrono::milliseconds;

// Connects (non-blocking socket) to host:port and waits for the handshake.
// Returns an invalid fd on failure.
net::UniqueFd connect_local(std::uint16_t port, const std::string& host = "127.0.0.1",
                            milliseconds timeout = milliseconds(5'000));

// Header plus payload.
std::vector<std::byte> frame_of(std::span<const std::byte> payload);
std::vector<std::byte> frame_of(std::string_view text);
std::vector<std::byte> bytes_of(std::string_view text);

struct Exchange {
  std::vector<std::byte> received;
  bool eof = false;  // Orderly close by the server.
  // ECONNRESET or another read/write error. After a failed write, reading
  // goes on: what the server sent before it closed is still received.
  bool reset = false;
  bool timed_out = false;  // Neither `expect` bytes nor a close in time.
};

// Writes all of `send` while reading, then (if `shut_wr`) shuts down the
// write side, and reads until `expect` bytes arrived, the server closed, or
// `timeout` passed without progress.
Exchange exchange(int fd, std::span<const std::byte> send, std::size_t expect, bool shut_wr,
                  milliseconds timeout = milliseconds(10'000));

// Reads until the server closes (or `timeout` passes without progress).
Exchange read_until_close(int fd, milliseconds timeout = milliseconds(10'000));

// Writes all of `data`, waiting for room; false on error or timeout.
bool write_all(int fd, std::span<const std::byte> data,
               milliseconds timeout = milliseconds(10'000));

// Connects like connect_local, with SO_RCVBUF (and SO_SNDBUF) set before the
// handshake so the window the peer sees stays small: a slow reader then
// leaves unacknowledged bytes in the server's send queue, as a slow
// reader on a real network would. 0 keeps the default.
net::UniqueFd connect_small(std::uint16_t port, int rcvbuf, int sndbuf = 0,
                            const std::string& host = "127.0.0.1");

// A peer that writes as fast as the server takes and reads slowly.
struct SlowPeerOptions {
  std::size_t read_chunk = 16U << 10U;  // Bytes per read, at most.
  milliseconds read_interval{16};       // Pause between reads.
  bool junk_after = false;              // After `send`, keep writing junk bytes.
  bool shut_wr = false;                 // After `send`, shut down the write side.
  // Stop once this many bytes arrived (the connection stays open).
  std::size_t expect = SIZE_MAX;
  milliseconds timeout{30'000};  // Bound on the whole exchange.
  // Called after each read with the bytes received so far.
  std::function<void(std::size_t)> on_read;
};

struct SlowPeerResult {
  std::vector<std::byte> received;
  std::size_t sent = 0;       // Bytes of `send` written (junk not counted).
  bool eof = false;           // The server's FIN arrived after the data.
  bool reset = false;         // A read failed (ECONNRESET and the like).
  bool write_failed = false;  // A write failed; reading went on.
  bool timed_out = false;
};

// Writes `send` (then junk or a shutdown, as asked) while reading at most
// read_chunk bytes every read_interval, until EOF, a read error, `expect`
// bytes or the timeout. A failed write does not end the reading: what the
// server sent before closing is still read.
SlowPeerResult slow_peer(int fd, std::span<const std::byte> send, const SlowPeerOptions& options);

}  // namespace framed::test
