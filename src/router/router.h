// One worker's router: the handler of its client connections, and the
// owner of its backends (a pool of connections to each, their health,
// their probes). Everything here runs on the worker's thread; no state is
// shared between workers but the counters (Stats).
//
// A client frame takes the next number of the client's ReplyQueue, goes to
// one backend (by --balance) on its least busy connection, and joins that
// connection's queue of frames in flight: a backend answers each frame with
// one frame, in order, so the reply to the oldest frame of a connection's
// queue is always the next one read from it. The reply goes back to its
// client through the client's ReplyQueue, which restores the client's
// order across backends.
//
// Bounded memory, whatever each side does: a client's input pauses while
// --max-in-flight of its frames await replies, while its own output is
// above the high-water mark (it does not read), and while the backend
// connection its last frame went to is above its high-water mark (the
// backend does not read), until that connection drains.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "framed/server.h"
#include "router/options.h"
#include "router/reply_queue.h"
#include "router/ring.h"
#include "router/stats.h"

namespace framed::router {

class Router;
struct Backend;

// A frame sent to a backend, awaiting its reply.
struct InFlight {
  std::uint64_t client = 0;  // Connection::id() of the client.
  std::uint64_t seq = 0;     // Its number in the client's ReplyQueue.
  Loop::Clock::time_point sent{};
  std::vector<std::byte> payload;  // Kept only with --retry.
  bool retried = false;
};

// One pooled connection to a backend.
struct Link {
  Backend* backend = nullptr;
  Connection* conn = nullptr;  // While open.
  bool connecting = false;
  // Bumped whenever the link is given up: events of an older connection
  // (a close that comes late) are recognised and ignored.
  std::uint64_t generation = 0;
  std::deque<InFlight> queue;  // Oldest first.
  // The last reply on this connection: a frame behind others waits for its
  // turn, and its time to answer counts from the reply before it.
  Loop::Clock::time_point last_reply{};
  Timer deadline;  // The oldest frame's --backend-timeout (due()).
  // When the oldest frame in flight is overdue: --backend-timeout after it
  // was queued, or after the reply before it, whichever came later. Only
  // with frames in flight.
  [[nodiscard]] Loop::Clock::time_point due(std::chrono::milliseconds timeout) const noexcept {
    return std::max(queue.front().sent, last_reply) + timeout;
  }
};

struct Backend {
  std::size_t index = 0;
  Address address;
  std::string name;  // address.text()
  enum class Health : std::uint8_t { starting, up, down } health = Health::starting;
  std::vector<Link> links;
  std::size_t open_links = 0;
  std::size_t in_flight = 0;
  std::chrono::milliseconds backoff{};
  Timer probe;
  BackendStats* stats = nullptr;
  // Can take a frame now.
  [[nodiscard]] bool ready() const noexcept { return health != Health::down && open_links > 0; }
};

// What the router keeps on each client connection (its context).
struct ClientState {
  ReplyQueue replies;
  bool parked = false;   // Its last frame waits for a first backend.
  bool blocked = false;  // Its last frame's backend connection is full.
};

class Router final : public FrameHandler {
 public:
  Router(Loop& loop, const Options& options, WorkerStats& stats);
  ~Router() override;

  // The client side (FrameHandler).
  void on_open(Connection& c) override;
  void on_frame(Connection& c, std::span<const std::byte> payload) override;
  void on_drain(Connection& c) override;

  // The backend side, from each link's own handler (link_handler.cc).
  void link_open(Link& l, Connection& c);
  void link_reply(Link& l, std::span<const std::byte> payload);
  void link_writable(Link& l);
  // The link's connection ended (`why`): it closed, reset, or never opened.
  void link_lost(Link& l, const std::string& why);

 private:
  void start();
  void connect(Link& l);
  void probe(Backend& b);
  void schedule_probe(Backend& b);
  void mark_down(Backend& b, const std::string& why);
  // The backend for this payload among the ready ones; null if none.
  Backend* pick(std::span<const std::byte> payload);
  // Whether a backend not ready yet may still become so (a first connect
  // in progress): then frames wait (are parked) instead of being refused.
  [[nodiscard]] bool any_starting() const noexcept;
  // Sends the frame on `b`'s least busy connection, or, should that be
  // closing, on the next choice; with none, its client will be closed.
  void send(Backend& b, InFlight f, std::span<const std::byte> payload);
  [[nodiscard]] static Link* choose(Backend& b) noexcept;
  void block(std::uint64_t client);
  void arm_deadline(Link& l);
  void on_deadline(Link& l);
  // A frame whose backend failed: sent again (--retry, once), or its
  // client will be closed once every earlier reply is written.
  void fail(InFlight f, Backend& from);
  void deliver(Connection& c, ClientState& st, std::uint64_t seq,
               std::span<const std::byte> reply);
  // Writes what is now in order; closes the client at a failed frame.
  void flush(Connection& c, ClientState& st);
  // Holds the client while replies are owed; pauses or resumes its input.
  void settle(Connection& c, ClientState& st);
  void unpark_all();
  // Lets every blocked client try again.
  void wake_blocked();
  void refuse(Connection& c, const char* why);

  Loop& loop_;
  const Options& options_;
  WorkerStats& stats_;
  std::vector<std::unique_ptr<Backend>> backends_;
  HashRing ring_;
  std::size_t next_ = 0;  // Round-robin position.
  // Clients paused behind a full backend connection (ids; stale ones are
  // skipped), resumed when a backend connection drains.
  std::vector<std::uint64_t> blocked_;
  // Frames that came while the first connects were in progress.
  struct Parked {
    std::uint64_t client;
    std::uint64_t seq;
    std::vector<std::byte> payload;
  };
  std::deque<Parked> parked_;
  bool started_ = false;
};

}  // namespace framed::router
