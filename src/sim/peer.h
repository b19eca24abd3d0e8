// The simulator's clients. A seed draws each one's script: what it sends (an
// optional PROXY header, valid or hostile; frames of many sizes, maybe an
// oversize length, maybe cut short), how it writes (pieces and pauses), how
// it reads (steadily, slowly, stops, never), and how it ends (half-close,
// reset, or idles until the server acts). A peer records everything it
// received; the oracle (sim/oracle.h) judges it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framed/server.h"
#include "loop/clock.h"
#include "sim/rng.h"
#include "sim/sim_transport.h"

namespace framed::sim {

enum class Reader : std::uint8_t {
  steady,  // Reads all there is whenever it acts.
  slow,    // Reads a little at each of its turns.
  stops,   // Reads steadily, then stops for good after some bytes.
  never,   // Never reads.
};

enum class Ending : std::uint8_t {
  half_close,  // shutdown(SHUT_WR) after the last byte: then reads to EOF.
  reset,       // Resets (at a random point, maybe mid-frame).
  idle,        // Sends, then does nothing: the server's timeouts or the drain end it.
};

struct Script {
  loop::Duration start{};         // After the simulation's start.
  std::vector<std::byte> header;  // PROXY header (maybe hostile), or empty.
  std::vector<std::byte> frames;  // The frame stream (may end mid-frame).
  Reader reader = Reader::steady;
  std::size_t read_piece = SIZE_MAX;  // Reader::slow: bytes per turn.
  std::size_t stop_after = 0;         // Reader::stops.
  Ending ending = Ending::half_close;
  std::size_t reset_at = SIZE_MAX;  // Ending::reset: after this many bytes of the stream.
  std::size_t write_piece = 1;      // Most bytes per write.
  loop::Duration write_gap{};       // Longest pause between writes.
  loop::Duration read_gap{};        // Longest pause between reads.
};

// Draws a script for a server with `config`, sending about `budget` bytes
// at most (so that tiny reads and buffers keep a run short).
Script draw_script(Rng& rng, const ServerOptions& config, std::size_t budget);
// A PROXY header for peer `index`: valid v1 or v2 (its source port is
// 20000 + index, as the simulated connections' own ports are, so that log
// lines name the peer either way), or hostile.
std::vector<std::byte> draw_proxy_header(Rng& rng, std::size_t index);

// "reader steady, half-close, 3 frames (1 KiB), header v1" for the trace.
std::string describe(const Script& s);

class Peer {
 public:
  // Peer `index`, connecting at `at`.
  Peer(std::size_t index, Script script, loop::TimePoint at);

  // Acts if due at `now`; returns when it next wants to act (max: never).
  loop::TimePoint act(loop::TimePoint now, SimTransport& net, Rng& rng,
                      std::vector<std::string>& trace);
  [[nodiscard]] loop::TimePoint next() const noexcept { return next_; }

  [[nodiscard]] const Script& script() const noexcept { return script_; }
  [[nodiscard]] std::size_t conn() const noexcept { return conn_; }
  [[nodiscard]] bool connected() const noexcept { return conn_ != SIZE_MAX; }
  [[nodiscard]] const std::vector<std::byte>& received() const noexcept { return received_; }
  [[nodiscard]] std::size_t sent() const noexcept { return sent_; }
  // Everything it will ever see has been seen: the server's FIN after the
  // data, a reset, a refusal; or it gave up reading.
  [[nodiscard]] bool finished() const noexcept { return finished_; }
  // It read to the server's FIN (not a reset).
  [[nodiscard]] bool saw_fin() const noexcept { return saw_fin_; }
  [[nodiscard]] bool reset_by_itself() const noexcept { return reset_; }

 private:
  void start(loop::TimePoint now, SimTransport& net, std::vector<std::string>& trace);
  void write(SimTransport& net, Rng& rng, std::vector<std::string>& trace);
  void read(SimTransport& net, Rng& rng);

  std::size_t index_;
  Script script_;
  std::vector<std::byte> stream_;  // header + frames.
  std::size_t conn_ = SIZE_MAX;
  std::size_t sent_ = 0;
  std::vector<std::byte> received_;
  loop::TimePoint next_{};
  bool started_ = false;
  bool ended_ = false;  // Its ending was carried out.
  bool reset_ = false;
  bool finished_ = false;
  bool saw_fin_ = false;
  loop::TimePoint next_write_{};
  loop::TimePoint next_read_{};
  loop::TimePoint retry_at_{};
};

}  // namespace framed::sim
