// broadcast-bench: measures framed-broadcast's fan-out. One sender and N
// receivers on one epoll thread; the sender keeps at most --window frames
// beyond what the slowest receiver has received (so no receiver is cut for
// being slow), every receiver checks that each frame arrives whole and in
// sequence. Reports delivered frames/s and MiB/s, summed over receivers.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "framed/decoder.h"
#include "framed/encoder.h"
#include "framed/version.h"
#include "net/socket.h"
#include "server_process.h"
#include "test_client.h"
#include "util/cli.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const char* const kUsage = R"(usage: broadcast-bench [options]

Starts framed-broadcast, connects one sender and N receivers, and for the
measured time sends frames of one size, each carrying its sequence number;
every receiver checks each frame arrives whole and in order. Reports the
frames and payload bytes delivered per second, summed over the receivers.

options:
  --receivers N     receivers (default 10)
  --size BYTES      payload per frame, at least 8 (default 64; KiB ok)
  --window N        frames the sender may be ahead of the slowest receiver
                    (default 64)
  --duration DUR    measured time (default 5s), after 1s of warm-up
  --server PATH     framed-broadcast to start (default: the one built here)
  --json            one JSON object instead of text
  -h, --help        show this text
)";

struct Receiver {
  framed::net::UniqueFd fd;
  framed::Decoder decoder{0xFFFFFFFFU};
  std::uint64_t frames = 0;   // Whole frames received.
  std::uint64_t payload = 0;  // Payload bytes received.
  std::byte seq[8]{};         // The current frame's first 8 payload bytes.
  std::size_t seq_have = 0;
  bool bad = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t receivers = 10;
  std::size_t size = 64;
  std::size_t window = 64;
  std::chrono::milliseconds duration{5'000};
  std::string server_path = FRAMED_BROADCAST_PATH;
  bool json = false;
  using namespace framed::util;
  const CliOption options[] = {
      {"--receivers", "a count from 1 to 10000", set_count(receivers, 10'000)},
      {"--size", "a size from 8 bytes to 16MiB", set_size(size, 16U << 20U)},
      {"--window", "a count from 1 to 100000", set_count(window, 100'000)},
      {"--duration", "a duration above 0, such as 5s", set_duration(duration, false)},
      {"--server", "a path to framed-broadcast", set_text(server_path)},
      {"--json", "", set_flag(json)},
  };
  std::string message;
  switch (parse_cli(argc, argv, options, nullptr, message)) {
    case CliOutcome::help: std::fputs(kUsage, stdout); return 0;
    case CliOutcome::version: std::printf("broadcast-bench %s\n", FRAMED_VERSION); return 0;
    case CliOutcome::error: return usage_error("broadcast-bench", message);
    case CliOutcome::run: break;
  }
  if (size < 8) return usage_error("broadcast-bench", "--size must be at least 8");
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < receivers + 64) {
    lim.rlim_cur = std::min<rlim_t>(receivers + 64, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
  }

  framed::test::ServerProcess server;
  framed::test::SpawnOptions spawn;
  spawn.args = {"--port",        "0",    "--max-conns", std::to_string(receivers + 16),
                "--max-backlog", "1GiB", "--log-level", "warn"};
  if (std::string error; !server.start(server_path, spawn, error)) {
    std::fprintf(stderr, "broadcast-bench: cannot start %s: %s\n", server_path.c_str(),
                 error.c_str());
    return 1;
  }
  std::vector<Receiver> rx(receivers);
  for (auto& r : rx) {
    r.fd = framed::test::connect_local(server.port());
    if (!r.fd) {
      std::fprintf(stderr, "broadcast-bench: cannot connect a receiver\n");
      return 1;
    }
  }
  auto tx = framed::test::connect_local(server.port());
  if (!tx) {
    std::fprintf(stderr, "broadcast-bench: cannot connect the sender\n");
    return 1;
  }
  // Let the relay register every connection before the first frame.
  std::this_thread::sleep_for(300ms);

  const framed::net::UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  for (std::size_t i = 0; i < rx.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep.get(), EPOLL_CTL_ADD, rx[i].fd.get(), &ev);
  }
  epoll_event tev{};
  tev.events = EPOLLOUT;
  tev.data.u64 = rx.size();
  epoll_ctl(ep.get(), EPOLL_CTL_ADD, tx.get(), &tev);

  // The sender's stream: frame n carries n in its first 8 bytes.
  std::vector<std::byte> frame(framed::kHeaderSize + size, std::byte{0x5A});
  const auto header = framed::encode_header(static_cast<std::uint32_t>(size));
  std::copy(header.begin(), header.end(), frame.begin());
  std::uint64_t next_seq = 0;            // Next frame to start sending.
  std::size_t frame_pos = frame.size();  // Bytes of the current frame sent.
  std::vector<std::byte> buf(256U << 10U);
  std::vector<epoll_event> events(1024);
  const auto start = Clock::now();
  const auto measure_from = start + 1s;
  const auto end = measure_from + duration;
  std::uint64_t frames_at = 0;
  std::uint64_t payload_at = 0;
  bool measuring = false;
  bool failed = false;
  while (Clock::now() < end && !failed) {
    if (!measuring && Clock::now() >= measure_from) {
      measuring = true;
      for (const auto& r : rx) {
        frames_at += r.frames;
        payload_at += r.payload;
      }
    }
    const int n = epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n && !failed; ++i) {
      const std::size_t who = events[static_cast<std::size_t>(i)].data.u64;
      if (who == rx.size()) {
        std::uint64_t slowest = UINT64_MAX;
        for (const auto& r : rx) slowest = std::min(slowest, r.frames);
        while (true) {
          if (frame_pos == frame.size()) {
            if (next_seq >= slowest + window) break;  // Far enough ahead.
            std::memcpy(frame.data() + framed::kHeaderSize, &next_seq, 8);
            ++next_seq;
            frame_pos = 0;
          }
          const auto w = framed::net::write_some(tx.get(), std::span(frame).subspan(frame_pos));
          if (!w.error.ok()) {
            std::fprintf(stderr, "broadcast-bench: sender: %s\n", w.error.message().c_str());
            failed = true;
            break;
          }
          if (w.would_block) break;
          frame_pos += w.bytes;
        }
        continue;
      }
      Receiver& r = rx[who];
      const auto got = framed::net::read_some(r.fd.get(), buf);
      if (!got.error.ok() || got.eof) {
        std::fprintf(stderr, "broadcast-bench: receiver %zu lost its connection\n", who);
        failed = true;
        break;
      }
      std::span<const std::byte> in(buf.data(), got.bytes);
      while (!in.empty()) {
        const auto d = r.decoder.feed(in);
        in = in.subspan(d.consumed);
        if (d.status != framed::DecodeStatus::chunk) break;
        // Collect the first 8 payload bytes: the frame's sequence number.
        for (std::size_t k = 0; k < d.payload.size() && r.seq_have < 8; ++k) {
          if (d.chunk_offset + k < 8) r.seq[r.seq_have++] = d.payload[k];
        }
        r.payload += d.payload.size();
        if (d.frame_end) {
          std::uint64_t seq = 0;
          std::memcpy(&seq, r.seq, 8);
          if (seq != r.frames || d.frame_length != size) r.bad = true;
          ++r.frames;
          r.seq_have = 0;
        }
      }
      if (r.bad) {
        std::fprintf(stderr, "broadcast-bench: receiver %zu got a frame out of sequence\n", who);
        failed = true;
      }
    }
    // Wake the sender when the slowest receiver moved.
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = rx.size();
    epoll_ctl(ep.get(), EPOLL_CTL_MOD, tx.get(), &ev);
  }
  std::uint64_t frames = 0;
  std::uint64_t payload = 0;
  for (const auto& r : rx) {
    frames += r.frames;
    payload += r.payload;
  }
  const double secs = std::chrono::duration<double>(duration).count();
  const double fps = static_cast<double>(frames - frames_at) / secs;
  const double mibps = static_cast<double>(payload - payload_at) / secs / (1024.0 * 1024.0);
  server.send_signal(SIGINT);
  (void)server.wait_exit(10s);
  if (json) {
    std::printf(
        "{\"receivers\": %zu, \"frame_size\": %zu, \"window\": %zu, \"seconds\": %.3f, "
        "\"delivered_frames_per_s\": %.0f, \"delivered_mib_per_s\": %.2f, \"ok\": %s}\n",
        receivers, size, window, secs, fps, mibps, failed ? "false" : "true");
  } else {
    std::printf("broadcast-bench: 1 sender, %zu receivers, %zu-byte frames, window %zu, %.1f s\n",
                receivers, size, window, secs);
    std::printf("  delivered    %.0f frames/s, %.1f MiB/s (summed over receivers)\n", fps, mibps);
    std::printf("  verified     every frame whole and in sequence: %s\n", failed ? "NO" : "yes");
  }
  return failed ? 1 : 0;
}
