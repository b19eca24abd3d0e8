// A test service on the library (not installed): every request frame gets a
// reply, either the frame itself (--reply-size 0) or a frame of N bytes,
// delivered to the handler as whole frames or as chunks. It takes
// framed-server's options after its own:
//
//   reply-service --reply-size 100000 --delivery frames --port 0 --backend epoll
//
// --idle-thread yes starts a thread before serve() that blocks no signal,
// as a program's own threads may (a logger, a metrics pusher), and once
// serve() returns says on stderr whether SIGTERM is still blocked in the
// calling thread ("after serve: SIGTERM blocked").
//
// It stands for the services users build: replies larger than requests
// (a key-value store's reads) are what the echo never exercises.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "framed/server.h"
#include "server/config.h"

namespace {

class Reply final : public framed::Handler {
 public:
  Reply(std::size_t size, framed::Delivery delivery)
      : reply_(size, std::byte{0x42}), delivery_(delivery) {}
  [[nodiscard]] framed::Delivery delivery() const noexcept override { return delivery_; }
  void on_frame(framed::Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(reply_.empty() ? payload : std::span<const std::byte>(reply_));
  }
  void on_chunk(framed::Connection& c, const framed::Chunk& chunk) override {
    if (reply_.empty()) {
      if (chunk.first) c.send(chunk.header);
      c.send(chunk.payload);
    } else if (chunk.last) {
      c.send_frame(reply_);
    }
  }

 private:
  std::vector<std::byte> reply_;
  framed::Delivery delivery_;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t reply_size = 0;
  framed::Delivery delivery = framed::Delivery::frames;
  bool idle_thread = false;
  int i = 1;
  for (; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--reply-size") == 0) {
      reply_size = std::stoul(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--delivery") == 0) {
      delivery = std::strcmp(argv[i + 1], "chunks") == 0 ? framed::Delivery::chunks
                                                         : framed::Delivery::frames;
    } else if (std::strcmp(argv[i], "--idle-thread") == 0) {
      idle_thread = std::strcmp(argv[i + 1], "yes") == 0;
    } else {
      break;
    }
  }
  std::vector<const char*> rest{argv[0]};
  for (; i < argc; ++i) rest.push_back(argv[i]);
  framed::server::Config config;
  std::string message;
  if (framed::server::parse_args(static_cast<int>(rest.size()), rest.data(), config, message) !=
      framed::server::ParseOutcome::run) {
    std::fprintf(stderr, "reply-service: %s\n", message.c_str());
    return 2;
  }
  config.name = "reply-service";
  if (idle_thread) {
    std::thread([] {
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      for (;;) ::pause();
    }).detach();
  }
  const int rc = framed::serve(
      config, [&](framed::Loop&) { return std::make_unique<Reply>(reply_size, delivery); });
  if (idle_thread) {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    std::fprintf(stderr, "after serve: SIGTERM %s\n",
                 sigismember(&mask, SIGTERM) == 1 ? "blocked" : "not blocked");
  }
  return rc;
}
