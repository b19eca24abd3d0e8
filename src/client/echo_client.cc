#include "client/echo_client.h"

#include <algorithm>
#include <deque>

#include "framed/client.h"

namespace framed::client {
namespace {

using Clock = std::chrono::steady_clock;

struct InFlight {
  std::vector<std::byte> payload;
  Clock::time_point sent_at;
};

}  // namespace

EchoResult run_echo(const std::string& host, std::uint16_t port, std::size_t count,
                    const FrameSource& source, const EchoOptions& options, const OnEcho& on_echo) {
  EchoResult result;
  framed::Client c;
  // Echoes are as large as what is sent, whatever that is.
  c.set_max_frame(0xFFFFFFFFU);
  c.set_tls(options.tls);
  if (Error e = c.connect(host, port, options.timeout)) {
    result.error = e.message;
    return result;
  }
  std::deque<InFlight> in_flight;
  Client::PipelineOptions pipe;
  pipe.window = options.window;
  pipe.timeout = options.timeout;
  pipe.split_seed = options.split_seed;
  std::string mismatch;
  const Error e = c.pipeline(
      count,
      [&](std::size_t index, std::vector<std::byte>& out) {
        source(index, out);
        in_flight.push_back({out, Clock::now()});
      },
      [&](std::size_t index, std::span<const std::byte> echo) {
        const InFlight& want = in_flight.front();
        if (echo.size() != want.payload.size()) {
          mismatch = "echo of frame " + std::to_string(index) + " has length " +
                     std::to_string(echo.size()) + ", sent " + std::to_string(want.payload.size());
          return false;
        }
        if (!std::equal(echo.begin(), echo.end(), want.payload.begin())) {
          mismatch = "echo of frame " + std::to_string(index) + " differs from what was sent";
          return false;
        }
        if (on_echo) on_echo(index, want.payload, Clock::now() - want.sent_at);
        result.bytes_verified += want.payload.size();
        ++result.frames_verified;
        in_flight.pop_front();
        return true;
      },
      pipe);
  if (!mismatch.empty()) {
    result.corrupt = true;
    result.error = mismatch;
  } else if (e && (e.code == Errc::closed || e.code == Errc::reset)) {
    // What the user needs to hear when the server goes away: how far it got.
    result.error = "server closed the connection after " + std::to_string(result.frames_verified) +
                   " frame(s) (" + e.message + ")";
  } else if (e) {
    result.error = e.message;
  }
  return result;
}

}  // namespace framed::client
