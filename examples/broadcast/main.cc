// framed-broadcast: a chat-style relay built only on framed::server. Every
// frame received from one client goes, whole and unchanged, to every other
// client of the loop. A frame is queued to a receiver in one piece (header
// and payload together), so frames of different senders never interleave
// on a receiver's stream; each sender's frames keep their order. A receiver
// whose pending output passes --max-backlog is cut, so memory stays bounded
// however slow a receiver is, and the others keep receiving at full speed.
#include <framed/server.h>
#include <framed/version.h>

#include <cstdio>
#include <memory>
#include <string>

#include "options.h"

namespace {

class Relay final : public framed::Handler {
 public:
  explicit Relay(std::size_t max_backlog) : max_backlog_(max_backlog) {}

  // Whole frames: the library buffers a frame until its last byte, so a
  // sender that disconnects mid-frame delivers nothing of that frame.
  [[nodiscard]] framed::Delivery delivery() const noexcept override {
    return framed::Delivery::frames;
  }

  void on_frame(framed::Connection& from, std::span<const std::byte> payload) override {
    from.loop().for_each([&](framed::Connection& to) {
      if (to.id() == from.id()) return;
      if (!to.send_frame(payload)) return;  // Closing already.
      if (to.pending_bytes() > max_backlog_) {
        to.close("receiver too slow: " + std::to_string(to.pending_bytes()) +
                 " bytes pending > --max-backlog " + std::to_string(max_backlog_));
      }
    });
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
  // One worker: a frame reaches every client of its loop, so all clients
  // share the one loop.
  options.server.workers = 1;
  return framed::serve(options.server, [max_backlog](framed::Loop&) {
    return std::make_unique<Relay>(max_backlog);
  });
}
