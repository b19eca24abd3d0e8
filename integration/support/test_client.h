// Socket helpers for integration tests: every wait is bounded in time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
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
  bool eof = false;        // Orderly close by the server.
  bool reset = false;      // ECONNRESET or another read/write error.
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

}  // namespace framed::test
