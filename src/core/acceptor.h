// The listening side of one worker: which accepted connections are kept
// (--proxy-from, the global --max-conns), how accepting is paced (paused
// for a moment after an error instead of spinning), the descriptor kept in
// reserve to shed a connection on EMFILE, and the stop sequence of the
// drain. How a connection is accepted is the transport's business.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/context.h"
#include "loop/timer_queue.h"
#include "net/cidr.h"
#include "net/fd.h"

namespace framed::core {

// Takes a --max-conns-per-ip slot for the client `key`, on the connection
// `who` (its text, for the log). Returns false after counting the refusal
// and logging it (at warn, at most once a second per client). Also called
// by a connection once its PROXY header names the client.
bool admit_client(Context& ctx, const IpKey& key, const std::string& who);

class Acceptor {
 public:
  explicit Acceptor(Context& ctx);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Starts accepting, if the transport has a listener.
  void start();
  // Decides on a connection the transport accepted from `peer`: true to keep
  // it (its slot under --max-conns is then reserved, and under
  // --max-conns-per-ip too unless a PROXY header is awaited: then `held` is
  // set to the client's key, which the connection must release), false
  // after refusing it (counted, and logged at most once a second).
  bool admit(const net::Endpoint& peer, std::optional<IpKey>& held);
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
