#include "loop/poller.h"

namespace framed::loop {

bool parse_backend(std::string_view text, Backend& out) {
  if (text == "auto") {
    out = Backend::automatic;
  } else if (text == "epoll") {
    out = Backend::epoll;
  } else if (text == "io_uring") {
    out = Backend::io_uring;
  } else if (text == "poll") {
    out = Backend::poll;
  } else {
    return false;
  }
  return true;
}

std::string_view to_string(Backend backend) noexcept {
  switch (backend) {
    case Backend::poll: return "poll";
    case Backend::epoll: return "epoll";
    case Backend::io_uring: return "io_uring";
    case Backend::automatic: return "auto";
  }
  return "?";
}

std::unique_ptr<Poller> make_poller(Backend backend, net::SysError& error) {
  error = {};
  switch (backend) {
    case Backend::poll: return make_poll_poller();
    case Backend::epoll: return make_epoll_poller(error);
    case Backend::io_uring:
    case Backend::automatic: break;  // Not pollers: see serve.cc.
  }
  return nullptr;
}

}  // namespace framed::loop
