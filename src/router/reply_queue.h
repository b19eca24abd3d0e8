// One client's frames in flight, in the client's order: each frame the
// router forwards takes the next sequence number, and its reply, whichever
// backend brings it and whenever, is written to the client only after the
// replies of every earlier frame (twemproxy's rule). A reply that comes
// early is copied and waits; one that comes in turn goes straight out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

namespace framed::router {

class ReplyQueue {
 public:
  // A frame forwarded: returns its sequence number.
  std::uint64_t push() {
    slots_.emplace_back();
    return next_++;
  }
  // Frames forwarded whose replies have not been written yet.
  [[nodiscard]] std::size_t in_flight() const noexcept { return slots_.size(); }
  // Bytes of replies copied and waiting for an earlier one.
  [[nodiscard]] std::size_t waiting_bytes() const noexcept { return waiting_bytes_; }
  // Whether `seq` is the oldest frame awaiting its reply: its reply can be
  // written at once, then pop().
  [[nodiscard]] bool is_next(std::uint64_t seq) const noexcept {
    return !slots_.empty() && seq == head_ && slots_.front().state == State::waiting;
  }
  // The oldest frame's reply was written (is_next() was true).
  void pop() noexcept {
    slots_.pop_front();
    ++head_;
  }
  // Keeps a copy of the reply to `seq`, which is not next. Returns false
  // for a sequence number not in flight or already answered.
  bool store(std::uint64_t seq, std::span<const std::byte> reply) {
    Slot* s = slot(seq);
    if (s == nullptr || s->state != State::waiting) return false;
    s->state = State::ready;
    s->reply.assign(reply.begin(), reply.end());
    waiting_bytes_ += reply.size();
    return true;
  }
  // The frame `seq` will never have a reply (its backend failed).
  void fail(std::uint64_t seq) noexcept {
    if (Slot* s = slot(seq); s != nullptr && s->state == State::waiting) s->state = State::failed;
  }
  // Writes, through `write(span)`, every stored reply now in turn, oldest
  // first. Returns false when the oldest frame left has failed: no later
  // reply can be written in order.
  template <typename Write>
  bool flush(Write&& write) {
    while (!slots_.empty() && slots_.front().state != State::waiting) {
      Slot& s = slots_.front();
      if (s.state == State::failed) return false;
      write(std::span<const std::byte>(s.reply));
      waiting_bytes_ -= s.reply.size();
      pop();
    }
    return true;
  }

 private:
  enum class State : std::uint8_t { waiting, ready, failed };
  struct Slot {
    State state = State::waiting;
    std::vector<std::byte> reply;
  };
  Slot* slot(std::uint64_t seq) noexcept {
    if (seq < head_ || seq - head_ >= slots_.size()) return nullptr;
    return &slots_[static_cast<std::size_t>(seq - head_)];
  }
  std::deque<Slot> slots_;  // Frames head_ .. next_ - 1.
  std::uint64_t head_ = 0;
  std::uint64_t next_ = 0;
  std::size_t waiting_bytes_ = 0;
};

}  // namespace framed::router
