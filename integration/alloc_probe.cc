// A child for alloc_guard_test: makes one allocation request of a given size
// through a given entry point, touches its first byte so the request cannot
// be optimised away, and exits 0 if it was granted (3 if refused with null).
//   alloc_probe malloc|calloc|realloc|aligned_alloc|posix_memalign|memalign|new BYTES
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: alloc_probe FUNCTION BYTES\n");
    return 2;
  }
  const std::string function = argv[1];
  const auto size = static_cast<std::size_t>(std::strtoull(argv[2], nullptr, 10));
  if (function == "new") {
    void* p = ::operator new(size);
    // A volatile write keeps the allocation observable.
    *static_cast<volatile char*>(p) = 1;
    std::printf("granted %zu bytes by new\n", size);
    ::operator delete(p);
    return 0;
  }
  void* p = nullptr;
  if (function == "malloc") {
    p = std::malloc(size);
  } else if (function == "calloc") {
    p = std::calloc(1, size);
  } else if (function == "realloc") {
    // On failure the 16 bytes leak: the probe exits at once. (Freeing them
    // then draws gcc's -Wuse-after-free false positive at -O0.)
    p = std::realloc(std::malloc(16), size);
  } else if (function == "aligned_alloc") {
    p = std::aligned_alloc(64, (size + 63) / 64 * 64);
  } else if (function == "posix_memalign") {
    if (posix_memalign(&p, 64, size) != 0) p = nullptr;
  } else if (function == "memalign") {
    p = memalign(64, size);
  } else {
    std::fprintf(stderr, "alloc_probe: unknown function %s\n", function.c_str());
    return 2;
  }
  if (p == nullptr) return 3;
  // A volatile write keeps the allocation observable.
  *static_cast<volatile char*>(p) = 1;
  std::printf("granted %zu bytes by %s\n", size, function.c_str());
  std::free(p);
  return 0;
}
