// framed::Loop and framed::Timer: the handler's view of one worker (see
// framed/server.h). Each call is checked to come from the worker's own
// thread where the worker's state is touched; other threads reach it only
// through post(), which the EventLoop makes safe.
#include <exception>
#include <string>
#include <utility>

#include "framed/server.h"
#include "server/worker.h"
#include "util/log.h"

namespace framed {
namespace {

using server::Worker;
using util::log;
using util::LogLevel;

Worker& worker(Loop& l) noexcept { return static_cast<Worker&>(l); }
const Worker& worker(const Loop& l) noexcept { return static_cast<const Worker&>(l); }

// A call that must come from the loop's thread did not: refuse it, loudly.
bool refuse_foreign(const Loop& l, const char* call) {
  if (worker(l).on_own_thread()) return false;
  log(LogLevel::error, std::string(call) + " was called from a thread other than loop " +
                           std::to_string(l.index()) + "'s: refused (use Loop::post)");
  return true;
}

loop::TimerQueue::Id id_of(std::uint32_t index, std::uint32_t generation) noexcept {
  return {index, generation};
}

}  // namespace

Connection* Loop::find(std::uint64_t id) noexcept {
  if (refuse_foreign(*this, "Loop::find")) return nullptr;
  return worker(*this).table().find(id);
}

void Loop::for_each(const std::function<void(Connection&)>& f) {
  if (refuse_foreign(*this, "Loop::for_each")) return;
  worker(*this).table().for_each([&](core::Conn& c) {
    // A connection awaiting its PROXY header is not the handler's yet.
    if (c.visible()) f(c);
  });
}

std::size_t Loop::index() const noexcept { return worker(*this).worker_index(); }

std::size_t Loop::loops() const noexcept { return worker(*this).sibling_count(); }

bool Loop::stopping() const noexcept { return worker(*this).draining(); }

bool Loop::on_loop_thread() const noexcept { return worker(*this).on_own_thread(); }

Loop::Clock::time_point Loop::now() const noexcept {
  return const_cast<Worker&>(worker(*this)).event_loop().now();
}

Timer Loop::after(std::chrono::milliseconds delay, std::function<void()> f) {
  Timer t;
  if (refuse_foreign(*this, "Loop::after") || !f) return t;
  Worker* w = &worker(*this);
  loop::TimerQueue& timers = w->event_loop().timers();
  // The record stays until the handle goes (disarmed once it fired), so
  // that restart() re-arms it without allocating: the per-request timeout
  // pattern, re-armed on every request, costs a store, not a malloc.
  const auto id = timers.add([w, f = std::move(f)] { w->run_guarded("a timer's callback", f); });
  timers.schedule(id, w->event_loop().now() + delay);
  t.loop_ = this;
  t.index_ = id.index;
  t.generation_ = id.generation;
  return t;
}

Timer Loop::every(std::chrono::milliseconds period, std::function<void()> f) {
  Timer t;
  if (refuse_foreign(*this, "Loop::every") || !f) return t;
  if (period.count() <= 0) {
    log(LogLevel::error, "Loop::every: the period must be above 0: refused");
    return t;
  }
  Worker* w = &worker(*this);
  loop::TimerQueue& timers = w->event_loop().timers();
  const auto id = timers.add_self([w, period, f = std::move(f)](loop::TimerQueue::Id self) {
    // Re-armed before the call, so that the callback may cancel it or
    // restart it; a period after this run, so late runs never bunch up.
    w->event_loop().timers().schedule(self, w->event_loop().now() + period);
    w->run_guarded("a timer's callback", f);
  });
  timers.schedule(id, w->event_loop().now() + period);
  t.loop_ = this;
  t.index_ = id.index;
  t.generation_ = id.generation;
  return t;
}

void Loop::post(std::function<void()> f) {
  if (!f) return;
  Worker* w = &worker(*this);
  w->post([w, f = std::move(f)] { w->run_guarded("a posted task", f); });
}

bool Loop::post_to(std::size_t index, std::function<void(Loop&)> f) {
  Worker* target = worker(*this).sibling(index);
  if (target == nullptr || !f) return false;
  target->post(
      [target, f = std::move(f)] { target->run_guarded("a posted task", [&] { f(*target); }); });
  return true;
}

bool Loop::post_to(ConnectionHandle h, std::function<void(Connection&)> f,
                   std::function<void()> refused) {
  Worker* target = worker(*this).sibling(h.loop);
  if (target == nullptr || !f) return false;
  target->post([target, h, f = std::move(f), refused = std::move(refused)] {
    target->run_guarded("a posted task", [&] {
      core::Conn* c = target->table().find(h.id);
      if (c != nullptr && c->visible()) {
        f(*c);
      } else if (refused) {
        refused();
      }
    });
  });
  return true;
}

ConnectionHandle Loop::connect(const std::string& host, std::uint16_t port,
                               std::unique_ptr<Handler> handler,
                               std::chrono::milliseconds timeout) {
  if (refuse_foreign(*this, "Loop::connect")) return {};
  return worker(*this).connect(host, port, std::move(handler), timeout);
}

void Loop::post_all(const std::function<void(Loop&)>& f) {
  for (std::size_t i = 0; i < loops(); ++i) (void)post_to(i, f);
}

Timer::Timer(Timer&& other) noexcept
    : loop_(std::exchange(other.loop_, nullptr)),
      index_(std::exchange(other.index_, UINT32_MAX)),
      generation_(other.generation_) {}

Timer& Timer::operator=(Timer&& other) noexcept {
  if (this != &other) {
    cancel();
    loop_ = std::exchange(other.loop_, nullptr);
    index_ = std::exchange(other.index_, UINT32_MAX);
    generation_ = other.generation_;
  }
  return *this;
}

Timer::~Timer() { cancel(); }

void Timer::cancel() noexcept {
  if (loop_ == nullptr) return;
  Worker& w = worker(*loop_);
  if (!w.on_own_thread()) {
    // Touching another thread's timers would race with its loop: the
    // removal is posted there instead (the id's generation makes it
    // harmless if the timer is gone by then), and the callback may run
    // once more meanwhile, which the log says.
    log(LogLevel::warn, "Timer::cancel was called from a thread other than loop " +
                            std::to_string(w.worker_index()) +
                            "'s: the cancel is posted to it, and the timer may fire once more");
    const auto id = id_of(index_, generation_);
    Worker* target = &w;
    target->post([target, id] { target->event_loop().timers().remove(id); });
    loop_ = nullptr;
    return;
  }
  w.event_loop().timers().remove(id_of(index_, generation_));
  loop_ = nullptr;
}

bool Timer::restart(std::chrono::milliseconds delay) noexcept {
  if (loop_ == nullptr) return false;
  Worker& w = worker(*loop_);
  if (!w.on_own_thread()) {
    log(LogLevel::error, "Timer::restart was called from a thread other than loop " +
                             std::to_string(w.worker_index()) + "'s: refused (use Loop::post)");
    return false;
  }
  w.event_loop().timers().schedule(id_of(index_, generation_), w.event_loop().now() + delay);
  return true;
}

bool Timer::active() const noexcept {
  if (loop_ == nullptr) return false;
  Worker& w = worker(*loop_);
  return w.event_loop().timers().deadline(id_of(index_, generation_)) != loop::TimePoint::max();
}

}  // namespace framed
