#include "guarded_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace framed::test {

GuardedBuffer::GuardedBuffer(std::size_t capacity) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  usable_ = (capacity + page - 1) / page * page;
  if (usable_ == 0) usable_ = page;
  mapped_ = usable_ + page;
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::abort();
  }
  base_ = static_cast<std::byte*>(p);
  if (mprotect(base_ + usable_, page, PROT_NONE) != 0) {
    std::perror("mprotect");
    std::abort();
  }
}

GuardedBuffer::~GuardedBuffer() { munmap(base_, mapped_); }

std::span<const std::byte> GuardedBuffer::place(std::span<const std::byte> data) {
  if (data.size() > usable_) std::abort();
  std::byte* start = base_ + (usable_ - data.size());
  if (!data.empty()) std::memcpy(start, data.data(), data.size());
  return {start, data.size()};
}

}  // namespace framed::test
