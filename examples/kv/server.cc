// framed-kv: a small key-value service on framed::server, the example the
// guide (docs/GUIDE.md) walks through. One request per frame, one reply per
// request, in order:
//
//   set KEY VALUE [TTL_MS]  -> "ok"            (the key expires after TTL_MS)
//   get KEY                 -> "value VALUE" or "not found"
//   del KEY                 -> "ok" or "not found"
//   wait KEY TIMEOUT_MS     -> "value VALUE" once KEY is set (by any client,
//                              on any worker), or "timeout"
//   anything else           -> "error: ..."
//
// It shows the library's parts together: a FrameHandler per worker, one
// store shared by all of them, a timer that sweeps expired keys, a
// per-request timeout on a timer kept in the connection's context, a reply
// posted to a connection on another worker by its handle, and
// pause_reading() to keep replies in request order while a wait is open.
#include <framed/server.h>
#include <framed/version.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store.h"

namespace {

using namespace std::chrono_literals;

void reply(framed::Connection& c, std::string_view text) {
  c.send_frame(std::as_bytes(std::span(text.data(), text.size())));
}

// A `wait` in progress: what it waits for, and its timeout. Kept in the
// connection's context, so it dies (timer and all) with the connection.
struct Waiting {
  std::string key;
  std::uint64_t id = 0;  // Which of the connection's waits.
  framed::Timer timeout;
};

// Ends wait `id` of `c` (on its own loop) with `text`, if it still waits:
// the value came, or the timeout fired, whichever first. (A set's answer
// may arrive after the timeout answered that wait and a new one began: the
// id tells them apart.)
void finish_wait(kv::Store& store, framed::Connection& c, std::uint64_t id, std::string_view text) {
  Waiting* w = c.context<Waiting>();
  if (w == nullptr || w->id != id) return;  // Already answered.
  store.remove_waiter(w->key, c.handle());
  c.reset_context();  // Cancels the timeout.
  reply(c, text);
  c.resume_reading();
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto start = s.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    s.remove_prefix(start);
    const auto end = s.find(' ');
    out.push_back(s.substr(0, end));
    if (end == std::string_view::npos) break;
    s.remove_prefix(end);
  }
  return out;
}

bool millis(std::string_view text, std::chrono::milliseconds& out) {
  long long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 0) return false;
  out = std::chrono::milliseconds(v);
  return true;
}

class KvHandler final : public framed::FrameHandler {
 public:
  KvHandler(kv::Store& store, framed::Loop& loop) : store_(store), loop_(loop) {
    // One sweeper for the server (reads drop expired keys too).
    if (loop.index() == 0) sweep_ = loop.every(100ms, [this] { store_.expire(loop_.now()); });
  }

  void on_frame(framed::Connection& c, std::span<const std::byte> payload) override {
    const std::string_view req(reinterpret_cast<const char*>(payload.data()), payload.size());
    const auto w = words(req);
    const auto now = loop_.now();
    std::chrono::milliseconds ms{0};
    if (w.size() >= 3 && w.size() <= 4 && w[0] == "set" && (w.size() == 3 || millis(w[3], ms))) {
      const std::string value(w[2]);
      for (const kv::Store::Waiter& waiter : store_.set(std::string(w[1]), value, ms, now)) {
        // A waiter may be on any worker: its own loop answers it.
        loop_.post_to(waiter.who,
                      [&store = store_, value, id = waiter.wait](framed::Connection& to) {
                        finish_wait(store, to, id, "value " + value);
                      });
      }
      reply(c, "ok");
    } else if (w.size() == 2 && w[0] == "get") {
      const auto v = store_.get(std::string(w[1]), now);
      reply(c, v ? "value " + *v : std::string("not found"));
    } else if (w.size() == 2 && w[0] == "del") {
      reply(c, store_.erase(std::string(w[1]), now) ? "ok" : "not found");
    } else if (w.size() == 3 && w[0] == "wait" && millis(w[2], ms)) {
      const std::string key(w[1]);
      const std::uint64_t id = ++waits_;
      if (const auto v = store_.get_or_wait(key, {c.handle(), id}, now)) {
        reply(c, "value " + *v);
        return;
      }
      // Replies stay in request order: nothing more is read from this
      // client until the wait is answered.
      c.pause_reading();
      Waiting& waiting = c.emplace_context<Waiting>();
      waiting.key = key;
      waiting.id = id;
      framed::Connection* conn = &c;
      waiting.timeout = loop_.after(
          ms, [&store = store_, conn, id] { finish_wait(store, *conn, id, "timeout"); });
    } else {
      reply(c, "error: expected set KEY VALUE [TTL_MS], get KEY, del KEY or wait KEY TIMEOUT_MS");
    }
  }

  void on_close(framed::Connection& c) override {
    if (const Waiting* w = c.context<Waiting>()) store_.remove_waiter(w->key, c.handle());
  }

 private:
  kv::Store& store_;
  framed::Loop& loop_;
  framed::Timer sweep_;
  std::uint64_t waits_ = 0;  // Wait ids of this loop's connections.
};

const char* kUsage = R"(usage: framed-kv [options]

A key-value service over length-prefixed frames. Requests, one per frame:
  set KEY VALUE [TTL_MS]   get KEY   del KEY   wait KEY TIMEOUT_MS

options:
  --host ADDR     address to listen on (default 127.0.0.1)
  --port N        TCP port, 0 picks a free one (default 7779)
  --workers N     worker threads (default 1); they share one store
  --log-level L   debug, info, warn, error or off (default info)
  -h, --help      show this text
  --version       show the version

Prints "listening on HOST:PORT" once listening. SIGINT or SIGTERM drains and
exits 0; SIGUSR1 logs the counters.
)";

}  // namespace

int main(int argc, char** argv) {
  framed::ServerOptions options;
  options.port = 7779;
  options.name = "framed-kv";
  auto fail = [](const std::string& why) {
    std::fprintf(stderr, "framed-kv: %s\nTry 'framed-kv --help' for more information.\n",
                 why.c_str());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("framed-kv %s\n", FRAMED_VERSION);
      return 0;
    }
    if (i + 1 >= argc) return fail("unknown option or missing value: '" + std::string(arg) + "'");
    const std::string_view v = argv[++i];
    unsigned long n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    const bool number = ec == std::errc{} && end == v.data() + v.size();
    if (arg == "--host" && !v.empty()) {
      options.host = std::string(v);
    } else if (arg == "--port" && number && n <= 65535) {
      options.port = static_cast<std::uint16_t>(n);
    } else if (arg == "--workers" && number && n >= 1 && n <= 256) {
      options.workers = n;
    } else if (arg == "--log-level" &&
               (v == "debug" || v == "info" || v == "warn" || v == "error" || v == "off")) {
      options.log_level = v == "debug"   ? framed::LogLevel::debug
                          : v == "info"  ? framed::LogLevel::info
                          : v == "warn"  ? framed::LogLevel::warn
                          : v == "error" ? framed::LogLevel::error
                                         : framed::LogLevel::off;
    } else {
      return fail("invalid value '" + std::string(v) + "' for " + std::string(arg));
    }
  }
  kv::Store store;
  return framed::serve(
      options, [&store](framed::Loop& loop) { return std::make_unique<KvHandler>(store, loop); });
}
