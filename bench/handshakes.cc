#include "handshakes.h"

#include <poll.h>

#include <algorithm>
#include <array>
#include <barrier>
#include <climits>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "client/tls_stream.h"
#include "net/fd.h"

namespace framed::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct StreamFree {
  void operator()(detail::TlsStream* s) const noexcept { detail::tls_free(s); }
};
struct SessionFree {
  void operator()(detail::TlsSession* s) const noexcept { detail::tls_session_free(s); }
};
using Stream = std::unique_ptr<detail::TlsStream, StreamFree>;
using Session = std::unique_ptr<detail::TlsSession, SessionFree>;

bool wait_fd(int fd, short events, Clock::time_point give_up) {
  pollfd p{fd, events, 0};
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(give_up - Clock::now());
    const int ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, INT_MAX));
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

// The host name TLS verifies: the endpoint's address.
std::string address_of(const net::Endpoint& ep) {
  std::string h = ep.to_string();
  h = h.substr(0, h.rfind(':'));
  if (h.size() > 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
  return h;
}

class Handshaker {
 public:
  Handshaker(const net::Endpoint& ep, const LoadOptions& o, bool resume, const WindowHook& hook,
             std::barrier<>* sync)
      : ep_(ep), o_(o), resume_(resume), hook_(hook), sync_(sync), host_(address_of(ep)) {}

  LoadResult run() {
    // One connection first, outside any window: it proves the server is
    // there and gives the first session to resume.
    (void)one();
    if (sync_ != nullptr) sync_->arrive_and_wait();
    const auto begin = Clock::now();
    const auto start = o_.frames > 0 ? begin : begin + o_.warmup;
    const auto end = o_.frames > 0 ? Clock::time_point::max() : start + o_.duration;
    bool open = false;
    for (;;) {
      const auto now = Clock::now();
      if (!open && now >= start) {
        open = true;
        window_start_ = now;
        if (hook_) hook_(true);
      }
      if (now >= end || (o_.frames > 0 && result_.frames >= o_.frames)) break;
      const auto t0 = Clock::now();
      const bool ok = one();
      if (ok && open) {
        ++result_.frames;
        result_.bytes += 1;
        if (resumed_) ++result_.resumed;
        result_.rtt_ns.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
      }
    }
    const auto stop = std::min(Clock::now(), end);
    if (hook_) hook_(false);
    result_.seconds = std::chrono::duration<double>(stop - window_start_).count();
    return result_;
  }

 private:
  // One connection from connect to close. Returns whether it completed.
  bool one() {
    const auto give_up = Clock::now() + o_.connect_timeout;
    resumed_ = false;
    net::UniqueFd fd;
    if (const auto e = net::connect_to(ep_, fd); !e.ok())
      return fail("cannot connect: " + e.message());
    if (!wait_fd(fd.get(), POLLOUT, give_up)) return fail("cannot connect: timed out");
    if (const auto e = net::connect_result(fd.get()); !e.ok()) {
      return fail("cannot connect: " + e.message());
    }
    ++result_.connected;
    Error error;
    Stream tls(detail::tls_connect(fd.get(), o_.tls, host_, give_up, error,
                                   resume_ ? session_.get() : nullptr));
    if (!tls) return fail("TLS: " + error.message);
    resumed_ = detail::tls_resumed(*tls);
    // One frame: a 1-byte payload, echoed.
    const std::array<std::byte, 5> frame{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1},
                                         std::byte{0x5a}};
    std::size_t sent = 0;
    while (sent < frame.size()) {
      const auto w = detail::tls_write(*tls, std::span(frame).subspan(sent));
      if (w.error) return fail(w.error.message);
      if (w.would_block && !wait_fd(fd.get(), w.want, give_up)) return fail("write timed out");
      sent += w.bytes;
    }
    std::array<std::byte, 64> in{};
    std::size_t got = 0;
    while (got < frame.size()) {
      const auto r = detail::tls_read(*tls, std::span(in).subspan(got));
      if (r.error) return fail(r.error.message);
      if (r.eof) return fail("the server closed before the echo");
      if (r.would_block && !wait_fd(fd.get(), r.want, give_up)) return fail("echo timed out");
      got += r.bytes;
    }
    if (std::memcmp(in.data(), frame.data(), frame.size()) != 0) {
      ++result_.corrupt;
      return fail("the echo differs from the frame sent");
    }
    if (resume_) {
      if (Session next{detail::tls_take_session(*tls)}) session_ = std::move(next);
    }
    detail::tls_close_notify(*tls);
    return true;
  }

  bool fail(const std::string& why) {
    ++result_.errors;
    if (result_.first_error.empty()) result_.first_error = why;
    result_.error_list.push_back(why);
    return false;
  }

  net::Endpoint ep_;
  LoadOptions o_;
  bool resume_;
  WindowHook hook_;
  std::barrier<>* sync_;
  std::string host_;
  Session session_;
  bool resumed_ = false;
  Clock::time_point window_start_ = Clock::now();
  LoadResult result_;
};

}  // namespace

LoadResult run_handshakes(const net::Endpoint& endpoint, const LoadOptions& options, bool resume,
                          const WindowHook& hook) {
  const std::size_t n = std::max<std::size_t>(1, options.threads);
  if (n == 1) return Handshaker(endpoint, options, resume, hook, nullptr).run();
  std::barrier sync(static_cast<std::ptrdiff_t>(n));
  std::vector<LoadResult> results(n);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < n; ++t) {
    LoadOptions mine = options;
    if (options.frames > 0) mine.frames = std::max<std::uint64_t>(1, options.frames / n);
    threads.emplace_back([&, mine, t] {
      results[t] = Handshaker(endpoint, mine, resume, t == 0 ? hook : WindowHook{}, &sync).run();
    });
  }
  for (auto& th : threads) th.join();
  LoadResult total;
  for (const auto& r : results) total.add(r);
  return total;
}

}  // namespace framed::bench
