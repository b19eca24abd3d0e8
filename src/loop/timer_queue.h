// The one structure of a loop that knows deadlines: a binary min-heap of
// timers, each a record in a slab with its callback. A loop asks only for
// the earliest deadline (to bound its wait) and runs what is due.
//
// Moving a deadline later, the common case (activity pushes an idle
// deadline back on every read), costs nothing: the record's deadline
// changes and the heap entry stays; when that entry comes up early it is
// pushed again at the record's deadline without calling anybody. Moving a
// deadline earlier pushes a new entry, O(log n), and the older entry is
// recognised as stale by its sequence number when it comes up.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "loop/clock.h"

namespace framed::loop {

class TimerQueue {
 public:
  // Names a timer record: its slab index and the generation that record
  // had when it was created, so an id kept after remove() refers to nothing
  // (every call with it is ignored) rather than to a later timer.
  struct Id {
    std::uint32_t index = UINT32_MAX;
    std::uint32_t generation = 0;
    [[nodiscard]] bool valid() const noexcept { return index != UINT32_MAX; }
  };

  // Creates a disarmed timer that calls `fire` (on the loop's thread) each
  // time its deadline is reached. The callback may schedule, cancel or
  // remove any timer, itself included.
  Id add(std::function<void()> fire);
  // The same, for a callback that needs its own id (to re-arm or remove
  // itself): `fire` is called with it.
  Id add_self(std::function<void(Id)> fire);
  // Arms `id` for `when`, or moves it there. A time in the past fires at
  // the next run_due().
  void schedule(Id id, TimePoint when);
  // Disarms `id`; it stays valid for schedule().
  void cancel(Id id) noexcept;
  // Disarms and frees `id`; later calls with it are ignored.
  void remove(Id id) noexcept;
  // The deadline `id` is armed for, or TimePoint::max() if disarmed.
  [[nodiscard]] TimePoint deadline(Id id) const noexcept;

  // The earliest armed deadline, or TimePoint::max() if none. (It may be
  // earlier than any record's deadline: an entry for a deadline moved
  // later, which run_due() will push again without firing.)
  [[nodiscard]] TimePoint next() const noexcept {
    return heap_.empty() ? TimePoint::max() : heap_.front().when;
  }
  // Fires every timer whose deadline is at or before `now`, in deadline
  // order. A timer that a callback schedules for a time at or before `now`
  // fires in this call or the next (each call handles a bounded number of
  // entries, so a timer that re-arms itself for "now" cannot spin).
  void run_due(TimePoint now);

  [[nodiscard]] std::size_t armed() const noexcept { return armed_; }

 private:
  struct Record {
    std::function<void()> fire;
    TimePoint when = TimePoint::max();    // Armed deadline; max when disarmed.
    TimePoint queued = TimePoint::max();  // The live heap entry's time.
    std::uint32_t generation = 0;
    std::uint32_t seq = 0;  // Of the live heap entry.
    bool in_use = false;
  };
  struct Entry {
    TimePoint when;
    std::uint32_t index;
    std::uint32_t seq;
  };
  [[nodiscard]] Record* find(Id id) noexcept;
  [[nodiscard]] const Record* find(Id id) const noexcept;
  void push(std::uint32_t index, TimePoint when);
  void pop();

  std::vector<Record> records_;
  std::vector<std::uint32_t> free_;
  std::vector<Entry> heap_;
  std::size_t armed_ = 0;
};

}  // namespace framed::loop
