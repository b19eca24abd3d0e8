#include "router/router.h"

#include <algorithm>
#include <utility>

namespace framed::router {
namespace {

using std::chrono::milliseconds;

// The handler of one link's connection, owned by the connection. It
// forwards every event of the link's current connection to the router and
// ignores those of a connection the router has already given up.
class LinkHandler final : public FrameHandler {
 public:
  LinkHandler(Router& router, Link& link) : router_(router), link_(link), gen_(link.generation) {}
  void on_open(Connection& c) override {
    if (current()) {
      router_.link_open(link_, c);
    } else {
      c.close("backend connection no longer wanted");
    }
  }
  void on_frame(Connection& /*c*/, std::span<const std::byte> payload) override {
    if (current()) router_.link_reply(link_, payload);
  }
  void on_drain(Connection& /*c*/) override {
    if (current()) router_.link_writable(link_);
  }
  void on_end_of_input(Connection& /*c*/, std::span<const std::byte> /*held*/) override {
    // The library closes it next; the backend is gone from now.
    if (current()) router_.link_lost(link_, "closed the connection");
  }
  void on_close(Connection& /*c*/) override {
    if (current()) router_.link_lost(link_, "connection closed");
  }
  void on_connect_error(ConnectionHandle /*h*/, const Error& e) override {
    if (current()) router_.link_lost(link_, e.message);
  }

 private:
  [[nodiscard]] bool current() const noexcept { return link_.generation == gen_; }
  Router& router_;
  Link& link_;
  std::uint64_t gen_;
};

std::vector<std::string> names_of(const std::vector<Address>& addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(a.text());
  return out;
}

std::string seq_text(std::uint64_t n) { return std::to_string(n); }

}  // namespace

Router::Router(Loop& loop, const Options& options, WorkerStats& stats)
    : loop_(loop), options_(options), stats_(stats), ring_(names_of(options.backends)) {
  for (std::size_t i = 0; i < options.backends.size(); ++i) {
    auto b = std::make_unique<Backend>();
    b->index = i;
    b->address = options.backends[i];
    b->name = b->address.text();
    b->links.resize(options.backend_conns);
    for (Link& l : b->links) l.backend = b.get();
    b->backoff = options.probe_interval;
    b->stats = &stats.backends[i];
    backends_.push_back(std::move(b));
  }
  // Connects are made on the loop's own thread, once it runs.
  loop.post([this] { start(); });
}

Router::~Router() = default;

void Router::start() {
  started_ = true;
  for (auto& b : backends_) probe(*b);
}

void Router::connect(Link& l) {
  if (l.conn != nullptr || l.connecting) return;
  l.connecting = true;
  const Backend& b = *l.backend;
  (void)loop_.connect(b.address.host, b.address.port, std::make_unique<LinkHandler>(*this, l),
                      options_.connect_timeout);
}

void Router::probe(Backend& b) {
  if (loop_.stopping()) return;
  for (Link& l : b.links) connect(l);
}

void Router::schedule_probe(Backend& b) {
  if (loop_.stopping() || b.probe.active()) return;
  // Never at once: a backend that accepts and closes at once (full, or
  // draining) must not turn its reconnects into a busy loop. A down one
  // waits its backoff, which doubles at each failure and is reset only by
  // a reply (a backend that accepts but never answers keeps backing off).
  const milliseconds wait =
      b.health == Backend::Health::down ? b.backoff : options_.probe_interval;
  if (b.health == Backend::Health::down) {
    b.backoff = std::min(options_.probe_max, b.backoff * 2);
  }
  b.probe = loop_.after(wait, [this, &b] { probe(b); });
}

void Router::link_open(Link& l, Connection& c) {
  Backend& b = *l.backend;
  l.conn = &c;
  l.connecting = false;
  // Replies are read whatever this link owes the backend: they free the
  // clients, whose own limits bound them; a backend echoing a large frame
  // while the router still sends it would otherwise wait for the router.
  c.set_backlog_cap(SIZE_MAX);
  ++b.open_links;
  if (b.health != Backend::Health::up) {
    const bool was_down = b.health == Backend::Health::down;
    b.health = Backend::Health::up;
    set(b.stats->up, 1);
    log_event(LogLevel::info, "backend_up",
        "backend " + b.name + (was_down ? " is up again" : " is up") + " (worker " +
            std::to_string(loop_.index()) + ")",
        {{"backend", b.name}});
  }
  unpark_all();
}

void Router::link_lost(Link& l, const std::string& why) {
  Backend& b = *l.backend;
  const bool was_open = l.conn != nullptr;
  ++l.generation;  // Whatever that connection does later is ignored.
  l.connecting = false;
  if (was_open) {
    Connection* c = std::exchange(l.conn, nullptr);
    --b.open_links;
    c->close("backend connection given up");
    wake_blocked();  // A full link that is gone will never drain.
  }
  if (loop_.stopping() && l.queue.empty()) {
    // The drain closes links. Frames parked for a first connect that the
    // drain cancelled are refused now, not left to the drain timeout.
    if (!any_starting()) unpark_all();
    return;
  }
  if (!l.queue.empty()) {
    mark_down(b, why + " with " + std::to_string(l.queue.size()) + " frame(s) in flight");
    return;
  }
  if (was_open) {
    // An idle connection ended (the idle timeout, a backend's restart):
    // opened again at once; a failure then marks the backend down.
    schedule_probe(b);
    return;
  }
  // A connect failed. The backend is down once none of its links is open
  // or still connecting.
  const bool others = std::any_of(b.links.begin(), b.links.end(),
                                  [](const Link& x) { return x.conn != nullptr || x.connecting; });
  if (!others) {
    mark_down(b, why);
  } else if (b.health != Backend::Health::down) {
    schedule_probe(b);
  }
}

void Router::mark_down(Backend& b, const std::string& why) {
  std::vector<InFlight> orphans;
  for (Link& l : b.links) {
    for (auto& f : l.queue) orphans.push_back(std::move(f));
    l.queue.clear();
    ++l.generation;
    l.connecting = false;
    if (Connection* c = std::exchange(l.conn, nullptr)) c->close("backend marked down");
  }
  b.open_links = 0;
  b.in_flight = 0;
  set(b.stats->in_flight, 0);
  set(b.stats->up, 0);
  const bool was_down = b.health == Backend::Health::down;
  b.health = Backend::Health::down;
  if (!was_down) {
    bump(b.stats->downs);
    log_event(LogLevel::warn, "backend_down",
        "backend " + b.name + " is down: " + why + " (worker " + std::to_string(loop_.index()) +
            (options_.retry ? "; frames in flight are retried" : "") + ")",
        {{"backend", b.name}, {"why", why}});
  }
  schedule_probe(b);
  for (auto& f : orphans) fail(std::move(f), b);
  wake_blocked();  // Its full links are gone and will never drain.
  // Frames parked for a first connect: refused once nothing can come up.
  if (!any_starting()) unpark_all();
}

bool Router::any_starting() const noexcept {
  if (!started_) return true;
  return std::any_of(backends_.begin(), backends_.end(), [](const auto& b) {
    return b->health == Backend::Health::starting &&
           std::any_of(b->links.begin(), b->links.end(), [](const Link& l) { return l.connecting; });
  });
}

Backend* Router::pick(std::span<const std::byte> payload) {
  const std::size_t n = backends_.size();
  switch (options_.balance) {
    case Balance::round_robin:
      for (std::size_t k = 0; k < n; ++k) {
        Backend& b = *backends_[next_++ % n];
        if (b.ready()) return &b;
      }
      return nullptr;
    case Balance::least_pending: {
      Backend* best = nullptr;
      const std::size_t start = next_++;
      for (std::size_t k = 0; k < n; ++k) {
        Backend& b = *backends_[(start + k) % n];
        if (b.ready() && (best == nullptr || b.in_flight < best->in_flight)) best = &b;
      }
      return best;
    }
    case Balance::key: {
      const auto key = payload.first(std::min(payload.size(), options_.key_bytes));
      const std::size_t i =
          ring_.pick(hash_key(key), [this](std::size_t b) { return backends_[b]->ready(); });
      return i == SIZE_MAX ? nullptr : backends_[i].get();
    }
  }
  return nullptr;
}

void Router::on_open(Connection& c) { c.emplace_context<ClientState>(); }

void Router::on_frame(Connection& c, std::span<const std::byte> payload) {
  auto* st = c.context<ClientState>();
  if (st == nullptr) return;
  Backend* b = pick(payload);
  if (b == nullptr && !any_starting()) {
    refuse(c, "no backend is up");
    return;
  }
  const std::uint64_t seq = st->replies.push();
  if (b == nullptr) {
    // The first connects are still under way: the frame waits for them,
    // and the client's input with it.
    parked_.push_back({c.id(), seq, {payload.begin(), payload.end()}});
    st->parked = true;
  } else {
    InFlight f{c.id(), seq, loop_.now(), {}, false};
    if (options_.retry) f.payload.assign(payload.begin(), payload.end());
    send(*b, std::move(f), payload);
  }
  settle(c, *st);
}

Link* Router::choose(Backend& b) noexcept {
  // The least busy open connection, preferring one that takes output.
  Link* best = nullptr;
  for (Link& l : b.links) {
    if (l.conn == nullptr) continue;
    if (best == nullptr) {
      best = &l;
      continue;
    }
    const bool w = l.conn->writable();
    const bool bw = best->conn->writable();
    if ((w && !bw) || (w == bw && l.queue.size() < best->queue.size())) best = &l;
  }
  return best;
}

void Router::send(Backend& first, InFlight f, std::span<const std::byte> payload) {
  for (Backend* b = &first; b != nullptr; b = pick(payload)) {
    Link* l = nullptr;
    if (options_.balance == Balance::key) {
      // A key keeps one connection of its backend while it is open, so
      // that the backend sees that key's frames in order.
      const auto key = payload.first(std::min(payload.size(), options_.key_bytes));
      Link& pinned = b->links[hash_key(key) % b->links.size()];
      if (pinned.conn != nullptr) l = &pinned;
    }
    if (l == nullptr) l = choose(*b);
    if (l == nullptr) continue;  // Not ready: pick() never returns one.
    if (!l->conn->send_frame(payload)) {
      // The connection began a close of its own (its idle timeout): it is
      // given up (and reopened), and the frame goes to the next choice.
      link_lost(*l, "closed by the router's idle timeout");
      continue;
    }
    const std::uint64_t client = f.client;
    const bool was_empty = l->queue.empty();
    l->queue.push_back(std::move(f));
    ++b->in_flight;
    set(b->stats->in_flight, b->in_flight);
    bump(b->stats->forwarded);
    if (was_empty) arm_deadline(*l);
    if (!l->conn->writable()) block(client);
    return;
  }
  // No backend can take it: its client is closed after the replies before it.
  if (Connection* c = loop_.find(f.client)) {
    if (auto* st = c->context<ClientState>()) {
      st->replies.fail(f.seq);
      flush(*c, *st);
    }
  }
}

void Router::block(std::uint64_t client) {
  // The backend does not take its input as fast as it comes: the client
  // waits until a backend connection drains.
  Connection* c = loop_.find(client);
  if (c == nullptr) return;
  if (auto* st = c->context<ClientState>(); st != nullptr && !st->blocked) {
    st->blocked = true;
    blocked_.push_back(client);
  }
}

void Router::arm_deadline(Link& l) {
  const auto due = l.due(options_.backend_timeout);
  const auto wait = std::max(milliseconds(0),
                             std::chrono::ceil<milliseconds>(due - loop_.now()));
  // restart() reuses the timer (no allocation per frame).
  if (!l.deadline.restart(wait)) l.deadline = loop_.after(wait, [this, &l] { on_deadline(l); });
}

void Router::on_deadline(Link& l) {
  if (l.queue.empty() || l.conn == nullptr) return;
  if (l.due(options_.backend_timeout) > loop_.now()) {
    arm_deadline(l);
    return;
  }
  mark_down(*l.backend, "no reply within " + std::to_string(options_.backend_timeout.count()) +
                            "ms (--backend-timeout)");
}

void Router::link_reply(Link& l, std::span<const std::byte> payload) {
  Backend& b = *l.backend;
  if (l.queue.empty()) {
    mark_down(b, "a reply came for no frame (a backend must answer each frame once)");
    return;
  }
  InFlight f = std::move(l.queue.front());
  l.queue.pop_front();
  l.last_reply = loop_.now();
  b.backoff = options_.probe_interval;  // It answers: a later failure starts afresh.
  --b.in_flight;
  set(b.stats->in_flight, b.in_flight);
  bump(b.stats->replies);
  if (!l.queue.empty()) arm_deadline(l);
  Connection* c = loop_.find(f.client);
  if (c == nullptr) return;  // The client left; its reply goes nowhere.
  if (auto* st = c->context<ClientState>()) deliver(*c, *st, f.seq, payload);
}

void Router::deliver(Connection& c, ClientState& st, std::uint64_t seq,
                     std::span<const std::byte> reply) {
  if (st.replies.is_next(seq)) {
    c.send_frame(reply);  // In turn: straight out, no copy kept.
    st.replies.pop();
  } else if (!st.replies.store(seq, reply)) {
    return;
  }
  flush(c, st);
}

void Router::flush(Connection& c, ClientState& st) {
  if (!st.replies.flush([&c](std::span<const std::byte> r) { c.send_frame(r); })) {
    // The oldest frame left failed: every reply before it is written, and
    // nothing after it can be in order.
    c.release();
    c.close(options_.retry ? "a backend failed with this client's frame in flight, and no "
                             "other backend could take it"
                           : "a backend failed with this client's frame in flight (no --retry)");
    return;
  }
  settle(c, st);
}

void Router::fail(InFlight f, Backend& from) {
  Connection* c = loop_.find(f.client);
  if (c == nullptr) return;
  auto* st = c->context<ClientState>();
  if (st == nullptr) return;
  if (options_.retry && !f.retried) {
    if (Backend* other = pick(f.payload)) {
      bump(from.stats->retried);
      f.retried = true;
      f.sent = loop_.now();
      const std::vector<std::byte> payload = f.payload;
      send(*other, std::move(f), payload);
      return;
    }
  }
  bump(from.stats->failed);
  st->replies.fail(f.seq);
  flush(*c, *st);
}

void Router::settle(Connection& c, ClientState& st) {
  if (st.replies.in_flight() > 0) {
    c.hold();
  } else {
    c.release();
  }
  const bool pause = st.parked || st.blocked || st.replies.in_flight() >= options_.max_in_flight ||
                     !c.writable();
  if (pause && !c.reading_paused()) {
    c.pause_reading();
  } else if (!pause && c.reading_paused()) {
    c.resume_reading();
  }
}

void Router::on_drain(Connection& c) {
  if (auto* st = c.context<ClientState>()) settle(c, *st);
}

void Router::link_writable(Link& /*l*/) { wake_blocked(); }

void Router::wake_blocked() {
  // Any backend connection that drains (or is given up) lets every blocked
  // client try again (it re-blocks if its next frame meets another full
  // connection).
  std::vector<std::uint64_t> ids;
  ids.swap(blocked_);
  for (const std::uint64_t id : ids) {
    Connection* c = loop_.find(id);
    if (c == nullptr) continue;
    if (auto* st = c->context<ClientState>()) {
      st->blocked = false;
      settle(*c, *st);
    }
  }
}

void Router::unpark_all() {
  while (!parked_.empty()) {
    Parked p = std::move(parked_.front());
    parked_.pop_front();
    Connection* c = loop_.find(p.client);
    if (c == nullptr) continue;
    auto* st = c->context<ClientState>();
    if (st == nullptr) continue;
    st->parked = false;
    Backend* b = pick(p.payload);
    if (b == nullptr) {
      if (any_starting()) {
        st->parked = true;
        parked_.push_front(std::move(p));
        return;
      }
      refuse(*c, "no backend is up");
      continue;
    }
    InFlight f{p.client, p.seq, loop_.now(), {}, false};
    if (options_.retry) f.payload = p.payload;
    send(*b, std::move(f), p.payload);
    settle(*c, *st);
  }
}

void Router::refuse(Connection& c, const char* why) {
  bump(stats_.refused_no_backend);
  log_event(LogLevel::warn, "no_backend",
      "client " + c.peer() + " closed: " + why + " (" + seq_text(backends_.size()) +
          " backend(s), all down)",
      {{"peer", c.peer()}});
  c.release();
  c.close(why);
}

}  // namespace framed::router
