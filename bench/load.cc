#include "load.h"

#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "client/tls_stream.h"
#include "framed/decoder.h"
#include "framed/encoder.h"
#include "net/fd.h"

namespace framed::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  ~Conn() { detail::tls_free(tls); }
  net::UniqueFd fd;
  detail::TlsStream* tls = nullptr;  // Over TLS; else null.
  std::size_t index = 0;
  bool connected = false;
  bool dead = false;
  bool want_out = false;
  std::vector<std::byte> out;
  std::size_t out_head = 0;
  std::uint64_t next_seq = 0;              // Next frame to issue.
  std::uint64_t recv_seq = 0;              // Next frame whose echo is expected.
  std::vector<Clock::time_point> sent_at;  // Ring of `depth` issue times.
  Decoder decoder{0xFFFFFFFFU};
};

class Load {
 public:
  Load(const net::Endpoint& ep, const LoadOptions& o, const WindowHook& hook,
       std::function<void()> connected = {})
      : ep_(ep),
        o_(o),
        hook_(hook),
        connected_(std::move(connected)),
        epoll_(epoll_create1(EPOLL_CLOEXEC)),
        buf_(256U << 10U) {
    // One random block; frame s of connection c is the slice starting at
    // (7c + s) mod 251, so a misplaced or reordered echo shows.
    std::mt19937_64 rng(o.seed);
    block_.resize(o.frame_size + 256);
    for (auto& b : block_) b = static_cast<std::byte>(rng());
  }

  LoadResult run() {
    if (!epoll_) return fail_all("epoll_create1: " + std::string(std::strerror(errno)));
    connect_all();
    // Every thread's connections are up before any window starts.
    if (connected_) connected_();
    if (result_.connected == 0) return result_;
    const auto begin = Clock::now();
    window_start_ = o_.frames > 0 ? begin : begin + o_.warmup;
    window_end_ = o_.frames > 0 ? Clock::time_point::max() : window_start_ + o_.duration;
    if (o_.frames > 0 && hook_) hook_(true);
    bool window_open = o_.frames > 0;
    for (auto& c : conns_) {
      if (c->connected && !c->dead) pump(*c);
    }
    auto next_progress = begin + std::chrono::seconds(1);
    std::vector<epoll_event> events(1024);
    while (alive_ > 0) {
      auto now = Clock::now();
      if (!window_open && now >= window_start_) {
        window_open = true;
        if (hook_) hook_(true);
      }
      if (now >= window_end_ || (o_.frames > 0 && result_.frames >= o_.frames)) break;
      if (o_.progress && now >= next_progress) {
        print_progress(now, begin);
        next_progress += std::chrono::seconds(1);
      }
      auto wake = std::min({window_end_, next_progress, window_open ? window_end_ : window_start_});
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                               static_cast<int>(std::clamp<std::int64_t>(ms, 0, 1000)));
      if (n < 0 && errno != EINTR)
        return fail_all("epoll_wait: " + std::string(std::strerror(errno)));
      for (std::size_t i = 0; i < static_cast<std::size_t>(std::max(n, 0)); ++i) {
        Conn& c = *conns_[events[i].data.u64];
        if (c.dead) continue;
        if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_read(c);
        if (!c.dead && (events[i].events & EPOLLOUT) != 0) pump(c);
      }
    }
    const auto end = std::min(Clock::now(), window_end_);
    if (hook_) hook_(false);
    if (o_.progress) std::fprintf(stderr, "\r%*s\r", 78, "");
    result_.seconds = std::max(0.0, std::chrono::duration<double>(end - window_start_).count());
    return result_;
  }

 private:
  const std::byte* payload(const Conn& c, std::uint64_t seq) const {
    return block_.data() + (c.index * 7 + seq) % 251;
  }

  LoadResult fail_all(const std::string& why) {
    note_error(why);
    return result_;
  }

  void note_error(const std::string& why) {
    ++result_.errors;
    if (result_.first_error.empty()) result_.first_error = why;
    result_.error_list.push_back(why);
  }

  void kill(Conn& c, const std::string& why, bool corrupt = false) {
    if (c.dead) return;
    c.dead = true;
    --alive_;
    if (corrupt) ++result_.corrupt;
    note_error(why);
    c.fd.reset();
  }

  void connect_all() {
    conns_.reserve(o_.connections);
    const auto deadline = Clock::now() + o_.connect_timeout;
    std::size_t launched = 0;
    std::size_t pending = 0;
    std::vector<epoll_event> events(512);
    while ((launched < o_.connections || pending > 0) && Clock::now() < deadline) {
      // At most 256 handshakes at once, so the listen backlog never overflows.
      while (launched < o_.connections && pending < 256) {
        auto c = std::make_unique<Conn>();
        c->index = launched++;
        c->sent_at.resize(o_.depth);
        if (const auto e = net::connect_to(ep_, c->fd); !e.ok()) {
          conns_.push_back(std::move(c));
          conns_.back()->dead = true;
          note_error("cannot connect: " + e.message());
          continue;
        }
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.u64 = c->index;
        epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c->fd.get(), &ev);
        conns_.push_back(std::move(c));
        ++pending;
      }
      const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 100);
      for (std::size_t i = 0; i < static_cast<std::size_t>(std::max(n, 0)); ++i) {
        Conn& c = *conns_[events[i].data.u64];
        if (c.connected || c.dead) continue;
        --pending;
        if (const auto e = net::connect_result(c.fd.get()); !e.ok()) {
          c.dead = true;
          c.fd.reset();
          note_error("cannot connect: " + e.message());
          continue;
        }
        if (o_.tls.enabled) {
          // The handshake, bounded by the connect deadline (one at a time:
          // they cost the server the same whenever they happen).
          Error tls_error;
          c.tls = detail::tls_connect(c.fd.get(), o_.tls, host_, deadline, tls_error);
          if (c.tls == nullptr) {
            c.dead = true;
            c.fd.reset();
            note_error("TLS: " + tls_error.message);
            continue;
          }
        }
        c.connected = true;
        ++result_.connected;
        ++alive_;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = c.index;
        epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
      }
    }
    for (auto& c : conns_) {
      if (!c->connected && !c->dead) {
        c->dead = true;
        c->fd.reset();
        note_error("cannot connect: timed out");
      }
    }
  }

  // Issues frames up to the pipeline depth and writes what is pending.
  void pump(Conn& c) {
    const bool stop_issuing = o_.frames > 0 && issued_ >= o_.frames;
    while (!stop_issuing && c.next_seq - c.recv_seq < o_.depth) {
      const auto header = encode_header(static_cast<std::uint32_t>(o_.frame_size));
      c.out.insert(c.out.end(), header.begin(), header.end());
      const std::byte* p = payload(c, c.next_seq);
      c.out.insert(c.out.end(), p, p + o_.frame_size);
      c.sent_at[c.next_seq % o_.depth] = Clock::now();
      ++c.next_seq;
      ++issued_;
      if (o_.frames > 0 && issued_ >= o_.frames) break;
    }
    while (c.out_head < c.out.size()) {
      const std::span<const std::byte> rest{c.out.data() + c.out_head, c.out.size() - c.out_head};
      if (c.tls != nullptr) {
        const auto w = detail::tls_write(*c.tls, rest);
        if (w.error) return kill(c, w.error.message);
        if (w.would_block) break;
        c.out_head += w.bytes;
        continue;
      }
      const auto w = net::write_some(c.fd.get(), rest);
      if (!w.error.ok()) return kill(c, w.error.message());
      if (w.would_block) break;
      c.out_head += w.bytes;
    }
    if (c.out_head == c.out.size()) {
      c.out.clear();
      c.out_head = 0;
    }
    const bool want_out = c.out_head < c.out.size();
    if (want_out != c.want_out) {
      c.want_out = want_out;
      epoll_event ev{};
      ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0U);
      ev.data.u64 = c.index;
      epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    }
  }

  void on_read(Conn& c) {
    bool completed = false;
    // When the echoes that end here arrived: read once, after the read that
    // brings the first of them (later reads of this call add microseconds),
    // not once per pass over the ready connections, which would leave out
    // the time spent on the connections before this one (up to
    // milliseconds with a thousand of them) and report round trips shorter
    // than they were.
    Clock::time_point now{};
    // Over TLS, decrypted bytes may wait in OpenSSL with nothing for epoll
    // to report: read on while it holds any.
    for (int reads = 0; reads < 8 || (c.tls != nullptr && detail::tls_buffered(*c.tls)); ++reads) {
      net::IoResult r;
      if (c.tls != nullptr) {
        const auto t = detail::tls_read(*c.tls, buf_);
        if (t.error) return kill(c, t.error.message);
        r.bytes = t.bytes;
        r.eof = t.eof;
        r.would_block = t.would_block;
      } else {
        r = net::read_some(c.fd.get(), buf_);
      }
      if (!r.error.ok()) return kill(c, r.error.message());
      if (r.eof) return kill(c, "server closed the connection");
      if (r.would_block) break;
      std::span<const std::byte> in(buf_.data(), r.bytes);
      while (!in.empty()) {
        const DecodeResult d = c.decoder.feed(in);
        in = in.subspan(d.consumed);
        if (d.status != DecodeStatus::chunk) break;
        if (c.recv_seq >= c.next_seq) return kill(c, "an echo nobody asked for", true);
        if (d.frame_length != o_.frame_size) return kill(c, "echo has the wrong length", true);
        if (!d.payload.empty() &&
            std::memcmp(d.payload.data(), payload(c, c.recv_seq) + d.chunk_offset,
                        d.payload.size()) != 0) {
          return kill(c, "echo differs from what was sent", true);
        }
        if (d.frame_end) {
          if (now == Clock::time_point{}) now = Clock::now();
          if (now >= window_start_ && now < window_end_) {
            const auto rtt = now - c.sent_at[c.recv_seq % o_.depth];
            result_.rtt_ns.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count()));
            ++result_.frames;
            result_.bytes += o_.frame_size;
          }
          ++c.recv_seq;
          completed = true;
        }
      }
      if (r.bytes < buf_.size() && (c.tls == nullptr || !detail::tls_buffered(*c.tls))) break;
    }
    if (completed) pump(c);
  }

  void print_progress(Clock::time_point now, Clock::time_point begin) {
    const double t = std::chrono::duration<double>(now - begin).count();
    const double window = std::chrono::duration<double>(now - window_start_).count();
    const double rate = window > 0 ? static_cast<double>(result_.frames) / window : 0;
    std::fprintf(stderr, "\r  %5.1f s  %10.0f frames/s  %zu connections  %llu errors   ", t, rate,
                 alive_, static_cast<unsigned long long>(result_.errors));
    std::fflush(stderr);
  }

  net::Endpoint ep_;
  // The name TLS verifies: the address (unless o_.tls names the server).
  std::string host_ = [this] {
    std::string h = ep_.to_string();
    h = h.substr(0, h.rfind(':'));
    if (h.size() > 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
    return h;
  }();
  LoadOptions o_;
  WindowHook hook_;
  std::function<void()> connected_;
  net::UniqueFd epoll_;
  std::vector<std::byte> buf_;
  std::vector<std::byte> block_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::size_t alive_ = 0;
  std::uint64_t issued_ = 0;
  Clock::time_point window_start_;
  Clock::time_point window_end_;
  LoadResult result_;
};

}  // namespace

void LoadResult::add(const LoadResult& r) {
  frames += r.frames;
  bytes += r.bytes;
  seconds = std::max(seconds, r.seconds);
  rtt_ns.merge(r.rtt_ns);
  errors += r.errors;
  error_list.insert(error_list.end(), r.error_list.begin(), r.error_list.end());
  corrupt += r.corrupt;
  connected += r.connected;
  resumed += r.resumed;
  if (first_error.empty()) first_error = r.first_error;
}

LoadResult run_load(const net::Endpoint& endpoint, const LoadOptions& options,
                    const WindowHook& hook) {
  const std::size_t n = std::max<std::size_t>(1, std::min(options.threads, options.connections));
  if (n == 1) {
    Load load(endpoint, options, hook);
    return load.run();
  }
  std::barrier sync(static_cast<std::ptrdiff_t>(n));
  std::vector<LoadResult> results(n);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < n; ++t) {
    LoadOptions mine = options;
    mine.threads = 1;
    mine.connections = options.connections / n + (t < options.connections % n ? 1 : 0);
    if (options.frames > 0) mine.frames = std::max<std::uint64_t>(1, options.frames / n);
    mine.seed = options.seed + t;
    mine.progress = options.progress && t == 0;
    threads.emplace_back([&, mine, t] {
      Load load(endpoint, mine, t == 0 ? hook : WindowHook{}, [&] { sync.arrive_and_wait(); });
      results[t] = load.run();
    });
  }
  for (auto& th : threads) th.join();
  LoadResult total;
  for (const auto& r : results) total.add(r);
  return total;
}

double calibrate_loopback(std::chrono::milliseconds duration, std::string& error) {
  // Two plain blocking TCP sockets over 127.0.0.1, a writer here and a reader
  // in a child process (the two cores a server and its client would use).
  net::UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!listener || bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener.get(), 1) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    error = std::string("calibrate: ") + std::strerror(errno);
    return -1;
  }
  net::UniqueFd writer(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(writer.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = std::string("calibrate: connect: ") + std::strerror(errno);
    return -1;
  }
  net::UniqueFd reader(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  // Writer and reader each get a core of their own, as a server and its
  // client would under load; left to the scheduler, the two sometimes share
  // a core and the figure swings by a factor of two from run to run.
  cpu_set_t saved;
  CPU_ZERO(&saved);
  const bool pin = sched_getaffinity(0, sizeof saved, &saved) == 0 && CPU_COUNT(&saved) >= 2;
  int cpus[2] = {-1, -1};
  for (int c = 0, found = 0; pin && c < CPU_SETSIZE && found < 2; ++c) {
    if (CPU_ISSET(c, &saved)) cpus[found++] = c;
  }
  auto pin_to = [&](int cpu) {
    if (!pin) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
  };
  const pid_t child = fork();
  if (child == 0) {
    pin_to(cpus[1]);
    writer.reset();
    std::vector<char> buf(256U << 10U);
    while (read(reader.get(), buf.data(), buf.size()) > 0) {
    }
    _exit(0);
  }
  reader.reset();
  pin_to(cpus[0]);
  std::vector<char> buf(256U << 10U, 'x');
  std::uint64_t bytes = 0;
  const auto start = Clock::now();
  const auto end = start + duration;
  while (Clock::now() < end) {
    const ssize_t n = send(writer.get(), buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    bytes += static_cast<std::uint64_t>(n);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  writer.reset();
  waitpid(child, nullptr, 0);
  if (pin) sched_setaffinity(0, sizeof saved, &saved);
  return static_cast<double>(bytes) / secs;
}

}  // namespace framed::bench
