#include "loop/timer_queue.h"

#include <algorithm>
#include <utility>

namespace framed::loop {
namespace {

// Min-heap order on the deadline.
bool later(const auto& a, const auto& b) noexcept { return a.when > b.when; }

}  // namespace

TimerQueue::Id TimerQueue::add(std::function<void()> fire) {
  std::uint32_t index = 0;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(records_.size());
    records_.emplace_back();
  }
  Record& r = records_[index];
  r.fire = std::move(fire);
  r.when = TimePoint::max();
  r.queued = TimePoint::max();
  r.in_use = true;
  return {index, r.generation};
}

TimerQueue::Id TimerQueue::add_self(std::function<void(Id)> fire) {
  const Id id = add(nullptr);
  records_[id.index].fire = [id, f = std::move(fire)] { f(id); };
  return id;
}

TimerQueue::Record* TimerQueue::find(Id id) noexcept {
  if (id.index >= records_.size()) return nullptr;
  Record& r = records_[id.index];
  return r.in_use && r.generation == id.generation ? &r : nullptr;
}

const TimerQueue::Record* TimerQueue::find(Id id) const noexcept {
  if (id.index >= records_.size()) return nullptr;
  const Record& r = records_[id.index];
  return r.in_use && r.generation == id.generation ? &r : nullptr;
}

void TimerQueue::push(std::uint32_t index, TimePoint when) {
  Record& r = records_[index];
  r.queued = when;
  ++r.seq;
  heap_.push_back({when, index, r.seq});
  std::push_heap(heap_.begin(), heap_.end(), later<Entry, Entry>);
}

void TimerQueue::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), later<Entry, Entry>);
  heap_.pop_back();
}

void TimerQueue::schedule(Id id, TimePoint when) {
  Record* r = find(id);
  if (r == nullptr) return;
  if (when == TimePoint::max()) {
    cancel(id);
    return;
  }
  if (r->when == TimePoint::max()) ++armed_;
  r->when = when;
  // Earlier than the live entry: a new entry (the old one goes stale).
  // Later: nothing now; the live entry re-queues itself when it comes up.
  if (when < r->queued) push(id.index, when);
}

void TimerQueue::cancel(Id id) noexcept {
  Record* r = find(id);
  if (r == nullptr || r->when == TimePoint::max()) return;
  --armed_;
  // Its live entry, if any, finds the record disarmed and is dropped.
  r->when = TimePoint::max();
}

void TimerQueue::remove(Id id) noexcept {
  Record* r = find(id);
  if (r == nullptr) return;
  cancel(id);
  r->in_use = false;
  r->fire = nullptr;
  r->queued = TimePoint::max();
  ++r->seq;  // Every entry left for it is stale.
  ++r->generation;
  free_.push_back(id.index);
}

TimePoint TimerQueue::deadline(Id id) const noexcept {
  const Record* r = find(id);
  return r == nullptr ? TimePoint::max() : r->when;
}

void TimerQueue::run_due(TimePoint now) {
  // Bounded by the entries present at the start, so a callback that
  // re-arms itself for "now" cannot spin here forever.
  const std::size_t limit = heap_.size();
  for (std::size_t n = 0; n < limit && !heap_.empty() && heap_.front().when <= now; ++n) {
    const Entry e = heap_.front();
    pop();
    Record& r = records_[e.index];
    if (!r.in_use || e.seq != r.seq) continue;  // Superseded or removed.
    r.queued = TimePoint::max();
    if (r.when == TimePoint::max()) continue;  // Cancelled.
    if (r.when > now) {
      push(e.index, r.when);  // Moved later meanwhile: wait again, silently.
      continue;
    }
    r.when = TimePoint::max();
    --armed_;
    // Moved out for the call: the callback may remove this timer, or add
    // timers that reallocate the slab; it is put back if the timer lives.
    const std::uint32_t generation = r.generation;
    auto fire = std::move(r.fire);
    fire();
    Record& after = records_[e.index];
    if (after.in_use && after.generation == generation && !after.fire) {
      after.fire = std::move(fire);
    }
  }
}

}  // namespace framed::loop
