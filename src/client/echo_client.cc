#include "client/echo_client.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>

#include "framed/decoder.h"
#include "framed/encoder.h"

namespace framed::client {
namespace {

using Clock = std::chrono::steady_clock;

struct InFlight {
  std::vector<std::byte> payload;
  Clock::time_point sent_at;
};

}  // namespace

bool resolve_one(const std::string& host, std::uint16_t port, net::Endpoint& out,
                 std::string& error) {
  std::vector<net::Endpoint> all;
  std::string detail;
  if (const auto e = net::resolve(host, port, false, all, detail); !e.ok() || all.empty()) {
    error = "cannot resolve '" + host + "': " + (detail.empty() ? "no address" : detail);
    return false;
  }
  out = all.front();
  return true;
}

EchoResult run_echo(const net::Endpoint& endpoint, std::size_t count, const FrameSource& source,
                    const EchoOptions& options, const OnEcho& on_echo) {
  EchoResult result;
  net::UniqueFd fd;
  if (const auto e = net::connect_to(endpoint, fd); !e.ok()) {
    result.error = "cannot connect to " + endpoint.to_string() + ": " + e.message();
    return result;
  }
  const int timeout_ms = static_cast<int>(options.timeout.count());
  {
    pollfd p{fd.get(), POLLOUT, 0};
    int rc = 0;
    do {
      rc = ::poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    const auto e = net::connect_result(fd.get());
    if (rc == 0 || !e.ok()) {
      result.error = "cannot connect to " + endpoint.to_string() + ": " +
                     (rc == 0 ? std::string("timed out") : e.message());
      return result;
    }
  }

  std::mt19937_64 rng(options.split_seed);
  std::deque<InFlight> in_flight;
  std::vector<std::byte> out;  // Encoded frames not yet written.
  std::size_t out_head = 0;
  std::size_t next_frame = 0;
  Decoder decoder(0xFFFFFFFFU);
  std::vector<std::byte> in(64U << 10U);
  std::vector<std::byte> scratch;

  auto fail = [&](std::string why) {
    if (result.error.empty()) result.error = std::move(why);
    return result;
  };
  // What the user needs to hear when the server goes away: how far it got.
  auto closed = [&](const std::string& detail) {
    return fail("server closed the connection after " + std::to_string(result.frames_verified) +
                " frame(s)" + (detail.empty() ? "" : " (" + detail + ")"));
  };

  while (result.frames_verified < count) {
    // Top up the pipeline.
    while (next_frame < count && in_flight.size() < options.window) {
      scratch.clear();
      source(next_frame, scratch);
      if (!append_frame(out, scratch)) return fail("frame too large to encode");
      in_flight.push_back({scratch, Clock::now()});
      ++next_frame;
    }
    const bool have_output = out_head < out.size();
    pollfd p{fd.get(), static_cast<short>(POLLIN | (have_output ? POLLOUT : 0)), 0};
    int rc = 0;
    do {
      rc = ::poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      return fail("no progress for " + std::to_string(timeout_ms) + " ms after " +
                  std::to_string(result.frames_verified) + " verified frame(s)");
    }
    if ((p.revents & POLLOUT) != 0 && have_output) {
      std::size_t n = out.size() - out_head;
      if (options.split_seed != 0) {
        // Mostly small pieces, sometimes everything: every boundary gets hit.
        const std::size_t cap = (rng() % 4 == 0) ? n : 1 + rng() % 4096;
        n = std::min(n, cap);
      }
      const auto w = net::write_some(fd.get(), {out.data() + out_head, n});
      if (!w.error.ok()) {
        return closed(w.error.message());
      }
      out_head += w.bytes;
      if (out_head == out.size()) {
        out.clear();
        out_head = 0;
      }
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const auto r = net::read_some(fd.get(), in);
      if (!r.error.ok()) {
        return closed(r.error.message());
      }
      if (r.eof) {
        return closed("");
      }
      std::span<const std::byte> got(in.data(), r.bytes);
      while (!got.empty()) {
        const DecodeResult d = decoder.feed(got);
        got = got.subspan(d.consumed);
        if (d.status != DecodeStatus::chunk) break;
        if (in_flight.empty()) return fail("server sent bytes that are no echo");
        const auto& want = in_flight.front().payload;
        const std::size_t index = result.frames_verified;
        if (d.frame_length != want.size()) {
          result.corrupt = true;
          return fail("echo of frame " + std::to_string(index) + " has length " +
                      std::to_string(d.frame_length) + ", sent " + std::to_string(want.size()));
        }
        if (!std::equal(d.payload.begin(), d.payload.end(),
                        want.begin() + static_cast<std::ptrdiff_t>(d.chunk_offset))) {
          result.corrupt = true;
          return fail("echo of frame " + std::to_string(index) + " differs from what was sent");
        }
        if (d.frame_end) {
          const auto rtt = Clock::now() - in_flight.front().sent_at;
          if (on_echo) on_echo(index, want, rtt);
          result.bytes_verified += want.size();
          ++result.frames_verified;
          in_flight.pop_front();
        }
      }
    }
  }
  return result;
}

}  // namespace framed::client
