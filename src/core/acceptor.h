// The listening side of one worker: which accepted connections are kept
// (--proxy-from, the global --max-conns), how accepting is paced (paused
// for a moment after an error instead of spinning), the descriptor kept in
// reserve to shed a connection on EMFILE, and the stop sequence of the
// drain. How a connection is accepted is the transport's business.
#pragma once

#include <string>
#include <vector>

#include "core/context.h"
#include "loop/timer_queue.h"
#include "net/cidr.h"
#include "net/fd.h"

namespace framed::core {

class Acceptor {
 public:
  explicit Acceptor(Context& ctx);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Starts accepting, if the transport has a listener.
  void start();
  // Decides on a connection the transport accepted from `peer`: true to keep
  // it (its slot under --max-conns is then reserved), false after refusing
  // it (counted, and logged at most once a second).
  bool admit(const net::Endpoint& peer);
  // An accept failed: on EMFILE sheds the pending connection with the
  // reserve descriptor; in every case pauses accepting for a moment.
  void on_error(const net::SysError& error);
  // The drain's first step: accepts what the kernel has queued (each
  // reported to the sink as usual), then closes the listener, so later
  // clients are refused by the kernel. Returns how many it accepted.
  std::size_t stop();

 private:
  void pause();

  Context& ctx_;
  std::vector<net::Cidr> proxy_from_;  // Parsed --proxy-from.
  net::UniqueFd spare_;                // Released to shed a connection on EMFILE.
  loop::TimerQueue::Id resume_;        // Ends a pause.
  bool paused_ = false;
  bool stopping_ = false;  // stop() is accepting the queue.
  loop::TimePoint last_refuse_log_{};
  std::uint64_t refusals_unlogged_ = 0;
  loop::TimePoint last_stranger_log_{};  // Peers outside --proxy-from.
  std::uint64_t strangers_unlogged_ = 0;
};

}  // namespace framed::core
