// A buffer whose bytes end exactly where an inaccessible page begins, so a
// read one byte past the data faults at once instead of passing silently.
#pragma once

#include <cstddef>
#include <span>

namespace framed::test {

class GuardedBuffer {
 public:
  // Reserves room for `capacity` bytes followed by a PROT_NONE page.
  // Aborts the test binary if the mapping fails.
  explicit GuardedBuffer(std::size_t capacity);
  ~GuardedBuffer();
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // Copies `data` so that its last byte is the last accessible byte, and
  // returns the copy. Valid until the next place(). `data` must fit.
  std::span<const std::byte> place(std::span<const std::byte> data);

 private:
  std::byte* base_ = nullptr;
  std::size_t usable_ = 0;  // Bytes before the guard page.
  std::size_t mapped_ = 0;
};

}  // namespace framed::test
