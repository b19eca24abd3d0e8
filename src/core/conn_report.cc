// What a connection reports of itself (Conn's observation half): the
// arrivals and replies behind the reply latency histogram, its share of the
// pending-bytes gauge, and the fields of its log events. Nothing here
// decides anything about the connection.
#include <algorithm>
#include <chrono>
#include <string>

#include "core/conn.h"

namespace framed::core {

namespace {
constexpr std::size_t kMaxArrivals = 64;
}  // namespace

void Conn::note_arrival() {
  const loop::TimePoint at = now();
  if (arrivals_.size() > arrivals_head_ && arrivals_.back().at == at) {
    ++arrivals_.back().frames;
  } else if (arrivals_.size() - arrivals_head_ >= kMaxArrivals) {
    ++arrivals_.back().frames;
  } else {
    // The runs already answered go before the vector grows: a peer that
    // keeps one run waiting (reading slowly while it sends) would
    // otherwise grow it by one run per read for ever (found by review).
    if (arrivals_head_ > 0 && arrivals_.size() == arrivals_.capacity()) {
      arrivals_.erase(arrivals_.begin(),
                      arrivals_.begin() + static_cast<std::ptrdiff_t>(arrivals_head_));
      arrivals_head_ = 0;
    }
    arrivals_.push_back({at, 1});
  }
}

void Conn::note_replies(std::uint64_t frames) {
  if (arrivals_head_ == arrivals_.size()) return;
  // One clock reading per write, not per frame: the loop's time is that of
  // its wake-up, and the write may come well after it.
  const loop::TimePoint at = ctx_.loop.clock().now();
  Counters& c = ctx_.counters;
  while (frames > 0 && arrivals_head_ < arrivals_.size()) {
    Arrival& a = arrivals_[arrivals_head_];
    const std::uint64_t n = std::min(frames, a.frames);
    const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(at - a.at).count()));
    bump(c.latency[latency_bucket(ns)], n);
    bump(c.latency_sum_ns, ns * n);
    a.frames -= n;
    frames -= n;
    if (a.frames == 0) ++arrivals_head_;
  }
  if (arrivals_head_ == arrivals_.size()) {
    arrivals_.clear();
    arrivals_head_ = 0;
  }
}

util::LogEvent Conn::event(std::string_view name) const {
  util::LogEvent e(name);
  e.text("peer", peer()).number("conn", id());
  e.number("worker", id() % std::max<std::size_t>(ctx_.config.workers, 1));
  return e;
}

void Conn::report_pending() noexcept {
  const std::size_t now_pending = socket_ != nullptr ? socket_->pending() : 0;
  if (now_pending == reported_pending_) return;
  auto& gauge = ctx_.counters.pending_bytes;
  gauge.store(gauge.load(std::memory_order_relaxed) + now_pending - reported_pending_,
              std::memory_order_relaxed);
  reported_pending_ = now_pending;
}

}  // namespace framed::core
