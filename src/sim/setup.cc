#include "sim/setup.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <memory>

namespace framed::sim {
namespace {

using std::chrono::milliseconds;

// An echo of whole frames.
class FrameEcho final : public Handler {
 public:
  [[nodiscard]] Delivery delivery() const noexcept override { return Delivery::frames; }
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(payload);
  }
};

// One reply frame per request frame: a service whose output is not its
// input (and often larger).
class Replier final : public Handler {
 public:
  Replier(std::vector<std::byte> reply, Delivery delivery)
      : reply_(std::move(reply)), delivery_(delivery) {}
  [[nodiscard]] Delivery delivery() const noexcept override { return delivery_; }
  void on_frame(Connection& c, std::span<const std::byte> /*payload*/) override {
    c.send_frame(reply_);
  }
  void on_chunk(Connection& c, const Chunk& chunk) override {
    if (chunk.last) c.send_frame(reply_);
  }

 private:
  std::vector<std::byte> reply_;
  Delivery delivery_;
};

template <typename T>
T pick(Rng& rng, std::initializer_list<T> items) {
  return *(items.begin() + static_cast<std::ptrdiff_t>(rng.below(items.size())));
}

milliseconds ms_between(Rng& rng, std::uint64_t lo, std::uint64_t hi) {
  return milliseconds(static_cast<std::int64_t>(rng.range(lo, hi)));
}

}  // namespace

Setup draw_setup(Rng& rng) {
  Setup s;
  ServerOptions& o = s.server;
  o.log_level = LogLevel::debug;
  o.max_conns = static_cast<std::size_t>(rng.range(1, 40));
  o.max_frame = pick<std::uint32_t>(rng, {0, 1, 100, 4096, 65536, 1U << 20U, 16U << 20U});
  o.idle_timeout = rng.chance(0.3) ? milliseconds(0) : ms_between(rng, 50, 5000);
  o.frame_timeout = rng.chance(0.3) ? milliseconds(0) : ms_between(rng, 50, 5000);
  o.drain_timeout = ms_between(rng, 0, 5000);
  o.linger_timeout = ms_between(rng, 50, 5000);
  o.linger_time = ms_between(rng, 200, 30000);
  o.backlog_cap = pick<std::size_t>(rng, {1, 100, 4096, 64U << 10U, 256U << 10U});
  o.read_chunk = pick<std::size_t>(rng, {1, 7, 512, 16U << 10U, 64U << 10U});
  o.proxy_protocol = rng.chance(0.2);
  o.proxy_timeout = rng.chance(0.2) ? milliseconds(0) : ms_between(rng, 100, 3000);
  const int service = static_cast<int>(rng.below(20));
  s.service = service < 12   ? Service::echo_chunks
              : service < 17 ? Service::echo_frames
                             : Service::big_reply;
  if (s.service == Service::big_reply) {
    s.reply.assign(static_cast<std::size_t>(rng.range(1, 200'000)), std::byte{0x52});
    s.reply_delivery = rng.chance(0.5) ? Delivery::frames : Delivery::chunks;
  }
  SimOptions& n = s.net;
  n.server_rcvbuf = pick<std::size_t>(rng, {1024, 16U << 10U, 256U << 10U});
  n.server_sndbuf = pick<std::size_t>(rng, {1024, 16U << 10U, 256U << 10U});
  n.peer_rcvbuf = pick<std::size_t>(rng, {1024, 16U << 10U, 256U << 10U});
  n.backlog = static_cast<std::size_t>(rng.range(1, 64));
  n.short_write = static_cast<double>(rng.below(50)) / 100.0;
  n.spurious_eagain = static_cast<double>(rng.below(20)) / 100.0;
  n.unacked_unknown = static_cast<double>(rng.below(5)) / 100.0;
  n.arrival_during_accept = rng.chance(0.3) ? static_cast<double>(rng.below(100)) / 100.0 : 0.0;
  s.peers = static_cast<std::size_t>(rng.range(1, 40));
  s.drain_at = ms_between(rng, 300, 20000);
  for (std::size_t i = rng.below(4); i > 0; --i) {
    s.accept_failures.push_back(ms_between(rng, 0, 5000));
    s.accept_errors.push_back(pick<int>(rng, {EMFILE, ENFILE, ECONNABORTED, ENOBUFS}));
  }
  return s;
}

std::string describe(const Setup& s) {
  const ServerOptions& o = s.server;
  static constexpr const char* kServices[] = {"echo (chunks)", "echo (frames)", "reply"};
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "%s%s, %zu peers, max-conns %zu, max-frame %" PRIu32
      ", idle %lld ms, frame %lld ms, drain %lld ms at %lld ms, linger %lld/%lld ms, "
      "cap %zu, read %zu, proxy %s, buffers %zu/%zu/%zu, backlog %zu, storm %.2f",
      kServices[static_cast<int>(s.service)],
      s.service == Service::big_reply ? (" of " + std::to_string(s.reply.size()) + " B").c_str()
                                      : "",
      s.peers, o.max_conns, o.max_frame, static_cast<long long>(o.idle_timeout.count()),
      static_cast<long long>(o.frame_timeout.count()),
      static_cast<long long>(o.drain_timeout.count()), static_cast<long long>(s.drain_at.count()),
      static_cast<long long>(o.linger_timeout.count()),
      static_cast<long long>(o.linger_time.count()), o.backlog_cap, o.read_chunk,
      o.proxy_protocol ? "on" : "off", s.net.server_rcvbuf, s.net.server_sndbuf, s.net.peer_rcvbuf,
      s.net.backlog, s.net.arrival_during_accept);
  return buf;
}

HandlerFactory service_handlers(const Setup& s) {
  if (s.service == Service::echo_frames) {
    return [](Loop&) { return std::make_unique<FrameEcho>(); };
  }
  if (s.service == Service::big_reply) {
    return [&s](Loop&) { return std::make_unique<Replier>(s.reply, s.reply_delivery); };
  }
  return {};
}

}  // namespace framed::sim
