// faulty-echo: a framed echo server with at most one deliberate protocol
// fault, so the tests can prove framed-conform notices each one.
//
//   faulty-echo [--port N] [--max-frame BYTES] [--fault NAME]
//
// Faults: one-read (assumes each frame arrives in one read), drop-empty
// (drops zero-length frames), limit-off-by-one (rejects a frame of exactly
// the limit), no-limit, drop-backlog-at-eof (drops pending output when the
// client half-closes), close-after-first (closes after the first frame).
// Without --fault it is a correct, if simple, server. Prints "listening on
// HOST:PORT" like framed-server.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "framed/decoder.h"
#include "net/socket.h"
#include "util/parse.h"

namespace {

using framed::net::UniqueFd;
using Clock = std::chrono::steady_clock;

enum class Fault {
  none,
  one_read,
  drop_empty,
  limit_off_by_one,
  no_limit,
  drop_backlog_at_eof,
  close_after_first
};

bool parse_fault(std::string_view name, Fault& out) {
  const std::pair<std::string_view, Fault> names[] = {
      {"none", Fault::none},
      {"one-read", Fault::one_read},
      {"drop-empty", Fault::drop_empty},
      {"limit-off-by-one", Fault::limit_off_by_one},
      {"no-limit", Fault::no_limit},
      {"drop-backlog-at-eof", Fault::drop_backlog_at_eof},
      {"close-after-first", Fault::close_after_first}};
  for (const auto& [n, f] : names) {
    if (n == name) {
      out = f;
      return true;
    }
  }
  return false;
}

struct Conn {
  UniqueFd fd;
  framed::Decoder decoder;
  std::vector<std::byte> out;  // Echo bytes the socket has not taken yet.
  bool reading = true;         // Off after end of input or a decoder error.
  bool draining = false;       // Write side shut: discard input until EOF.
  Clock::time_point drain_until{};
  int frames = 0;
  bool dead = false;
};

class FaultyServer {
 public:
  FaultyServer(Fault fault, std::uint32_t max_frame) : fault_(fault), max_frame_(max_frame) {}

  // The decoder limit this fault implies.
  [[nodiscard]] std::uint32_t limit() const {
    if (fault_ == Fault::no_limit) return std::numeric_limits<std::uint32_t>::max();
    if (fault_ == Fault::limit_off_by_one && max_frame_ > 0) return max_frame_ - 1;
    return max_frame_;
  }

  void accept_one(int listener) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    (void)framed::net::set_nodelay(fd);
    conns_.push_back(Conn{UniqueFd(fd), framed::Decoder(limit()), {}, true, false, {}, 0, false});
  }

  void on_events(Conn& c, short revents) {
    if ((revents & POLLOUT) != 0) flush(c);
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !c.dead) read_once(c);
    if (!c.dead && !c.reading && !c.draining && c.out.empty()) begin_drain(c);
    if (c.draining && Clock::now() >= c.drain_until) c.dead = true;
  }

  std::vector<Conn>& conns() { return conns_; }

 private:
  void flush(Conn& c) {
    if (c.out.empty()) return;
    const auto r = framed::net::write_some(c.fd.get(), c.out);
    if (!r.error.ok()) {
      c.dead = true;
      return;
    }
    c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(r.bytes));
  }

  // Shuts the write side and reads on briefly, so echoes already sent are
  // not destroyed by a reset (as framed-server does).
  static void begin_drain(Conn& c) {
    ::shutdown(c.fd.get(), SHUT_WR);
    c.draining = true;
    c.drain_until = Clock::now() + std::chrono::milliseconds(500);
  }

  void read_once(Conn& c) {
    const auto r = framed::net::read_some(c.fd.get(), buf_);
    if (!r.error.ok()) {
      c.dead = true;
      return;
    }
    if (c.draining || !c.reading) {
      if (r.eof) c.dead = c.draining;
      return;
    }
    if (r.eof) {
      c.reading = false;
      // The fault: output still pending is thrown away.
      if (fault_ == Fault::drop_backlog_at_eof) c.dead = true;
      return;
    }
    const std::span<const std::byte> in(buf_.data(), r.bytes);
    if (fault_ == Fault::one_read) {
      echo_whole_frames_only(c, in);
    } else {
      echo_stream(c, in);
    }
    // Echo at once, so output piles up only when the socket is full.
    flush(c);
  }

  void echo_stream(Conn& c, std::span<const std::byte> in) {
    // Each round consumes bytes or reports an event; bounded by the input.
    const std::size_t rounds = 2 * in.size() + 2;
    for (std::size_t guard = 0; guard <= rounds; ++guard) {
      const auto r = c.decoder.feed(in);
      in = in.subspan(r.consumed);
      if (r.status == framed::DecodeStatus::error) {
        c.reading = false;
        return;
      }
      if (r.status != framed::DecodeStatus::chunk) return;
      const bool skip = fault_ == Fault::drop_empty && r.frame_length == 0;
      if (r.chunk_offset == 0 && !skip) {
        const auto h = framed::encode_header(r.frame_length);
        c.out.insert(c.out.end(), h.begin(), h.end());
      }
      c.out.insert(c.out.end(), r.payload.begin(), r.payload.end());
      if (r.frame_end && ++c.frames == 1 && fault_ == Fault::close_after_first) {
        c.reading = false;
        return;
      }
    }
  }

  // The fault: every read is decoded from scratch, so a frame cut across
  // reads is lost and the bytes after it are misread.
  void echo_whole_frames_only(Conn& c, std::span<const std::byte> in) {
    framed::Decoder fresh(limit());
    const std::size_t rounds = 2 * in.size() + 2;
    for (std::size_t guard = 0; guard <= rounds; ++guard) {
      const auto r = fresh.feed(in);
      in = in.subspan(r.consumed);
      if (r.status == framed::DecodeStatus::error) {
        c.reading = false;
        return;
      }
      if (r.status != framed::DecodeStatus::chunk) return;
      if (r.chunk_offset == 0 && r.frame_end) {
        const auto h = framed::encode_header(r.frame_length);
        c.out.insert(c.out.end(), h.begin(), h.end());
        c.out.insert(c.out.end(), r.payload.begin(), r.payload.end());
      }
    }
  }

  Fault fault_;
  std::uint32_t max_frame_;
  std::vector<Conn> conns_;
  std::vector<std::byte> buf_ = std::vector<std::byte>(64U << 10U);
};

int usage(const char* why) {
  std::fprintf(
      stderr, "faulty-echo: %s\nusage: faulty-echo [--port N] [--max-frame BYTES] [--fault NAME]\n",
      why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  std::uint32_t max_frame = framed::kDefaultMaxFrame;
  Fault fault = Fault::none;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage("option needs a value");
    const std::string_view value = argv[i + 1];
    if (arg == "--port") {
      const auto p = framed::util::parse_uint(value, 65535);
      if (!p) return usage("bad --port");
      port = static_cast<std::uint16_t>(*p);
    } else if (arg == "--max-frame") {
      const auto s = framed::util::parse_size(value, std::numeric_limits<std::uint32_t>::max());
      if (!s) return usage("bad --max-frame");
      max_frame = static_cast<std::uint32_t>(*s);
    } else if (arg == "--fault") {
      if (!parse_fault(value, fault)) return usage("unknown --fault");
    } else {
      return usage("unknown option");
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<framed::net::Endpoint> eps;
  std::string detail;
  UniqueFd listener;
  if (!framed::net::resolve("127.0.0.1", port, true, eps, detail).ok() ||
      !framed::net::listen_on(eps.front(), 128, listener).ok()) {
    std::perror("faulty-echo: listen");
    return 1;
  }
  framed::net::Endpoint bound;
  (void)framed::net::local_endpoint(listener.get(), bound);
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);

  FaultyServer server(fault, max_frame);
  std::vector<pollfd> pfds;
  // Runs until killed: the tests that start it always reap it.
  for (;;) {
    auto& conns = server.conns();
    pfds.assign(1, {listener.get(), POLLIN, 0});
    for (const auto& c : conns) {
      short ev = 0;
      if (c.reading || c.draining) ev |= POLLIN;
      if (!c.out.empty()) ev |= POLLOUT;
      pfds.push_back({c.fd.get(), ev, 0});
    }
    // A short timeout lets draining connections expire.
    if (::poll(pfds.data(), pfds.size(), 50) < 0) continue;
    for (std::size_t i = 0; i < conns.size(); ++i) server.on_events(conns[i], pfds[i + 1].revents);
    std::erase_if(conns, [](const Conn& c) { return c.dead; });
    if ((pfds[0].revents & POLLIN) != 0) server.accept_one(listener.get());
  }
}
