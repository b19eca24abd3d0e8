// framed-broadcast: a chat-style relay built only on framed::server. Every
// frame received from one client goes, whole and unchanged, to every other
// client, on every worker. A frame is queued to a receiver in one piece
// (header and payload together), so frames of different senders never
// interleave on a receiver's stream; each sender's frames keep their order
// (a receiver is always reached the same way: directly on the sender's own
// loop, else through its loop's task queue, which runs tasks in order). A
// receiver whose pending output passes --max-backlog is cut, on its own
// loop, so memory stays bounded however slow a receiver is, and the others
// keep receiving at full speed.
#include <framed/server.h>
#include <framed/version.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "options.h"

namespace {

// Sends `payload` to every client of `loop` but `from`, cutting those
// whose backlog passes `max_backlog`.
void relay(framed::Loop& loop, std::uint64_t from, std::span<const std::byte> payload,
           std::size_t max_backlog) {
  loop.for_each([&](framed::Connection& to) {
    if (to.id() == from) return;
    if (!to.send_frame(payload)) return;  // Closing already.
    if (to.pending_bytes() > max_backlog) {
      to.close("receiver too slow: " + std::to_string(to.pending_bytes()) +
               " bytes pending > --max-backlog " + std::to_string(max_backlog));
    }
  });
}

// Whole frames (FrameHandler): the library buffers a frame until its last
// byte, so a sender that disconnects mid-frame delivers nothing of it.
class Relay final : public framed::FrameHandler {
 public:
  explicit Relay(std::size_t max_backlog) : max_backlog_(max_backlog) {}

  void on_frame(framed::Connection& from, std::span<const std::byte> payload) override {
    framed::Loop& here = from.loop();
    relay(here, from.id(), payload, max_backlog_);
    if (here.loops() == 1) return;
    // The other workers' clients: one copy of the frame, shared by a task
    // posted to each of their loops.
    auto copy = std::make_shared<const std::vector<std::byte>>(payload.begin(), payload.end());
    for (std::size_t i = 0; i < here.loops(); ++i) {
      if (i == here.index()) continue;
      here.post_to(i, [copy, from = from.id(), cap = max_backlog_](framed::Loop& there) {
        relay(there, from, *copy, cap);
      });
    }
  }

 private:
  std::size_t max_backlog_;
};

}  // namespace

int main(int argc, char** argv) {
  broadcast::Options options;
  std::string message;
  switch (broadcast::parse(argc, argv, options, message)) {
    case broadcast::Parsed::help: std::fputs(broadcast::usage(), stdout); return 0;
    case broadcast::Parsed::version: std::printf("framed-broadcast %s\n", FRAMED_VERSION); return 0;
    case broadcast::Parsed::error:
      std::fprintf(stderr,
                   "framed-broadcast: %s\nTry 'framed-broadcast --help' for more information.\n",
                   message.c_str());
      return 2;
    case broadcast::Parsed::run: break;
  }
  const std::size_t max_backlog = options.max_backlog;
  return framed::serve(options.server, [max_backlog](framed::Loop&) {
    return std::make_unique<Relay>(max_backlog);
  });
}
