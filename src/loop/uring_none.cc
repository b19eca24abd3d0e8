// The io_uring backend in a build without liburing: create() says so, and
// nothing else is ever reached (no Ring exists to call it on).
#include <cstdlib>

#include "loop/uring.h"

namespace framed::loop {

struct Ring::Impl {};

Ring::Ring(std::unique_ptr<Impl> impl, std::string mode)
    : impl_(std::move(impl)), mode_(std::move(mode)) {}
Ring::~Ring() = default;

bool uring_built() noexcept { return false; }

std::unique_ptr<Ring> Ring::create(const RingOptions&, std::string& why) {
  why = "the io_uring backend was not built (liburing-dev was not found at configure time)";
  return nullptr;
}

void Ring::accept(int, sockaddr_storage*, socklen_t*, std::uint64_t) { std::abort(); }
void Ring::recv(int, std::uint64_t) { std::abort(); }
void Ring::send(int, std::span<const std::byte>, std::uint64_t) { std::abort(); }
void Ring::poll_multishot(int, std::uint64_t) { std::abort(); }
void Ring::poll_writable(int, std::uint64_t) { std::abort(); }
void Ring::cancel(std::uint64_t, std::uint64_t) { std::abort(); }
net::SysError Ring::enable() { std::abort(); }
net::SysError Ring::submit() { std::abort(); }
net::SysError Ring::wait(int, std::vector<Completion>&) { std::abort(); }
std::span<const std::byte> Ring::buffer(std::uint16_t, std::size_t) const noexcept { return {}; }
void Ring::recycle(std::uint16_t) noexcept {}

}  // namespace framed::loop
