// An LD_PRELOAD shim that turns "never allocates a size the peer chose" into
// a crash instead of a silent success. It replaces every allocation entry
// point of the C library; a single request above FRAMED_ALLOC_LIMIT bytes
// (read from the environment at load time; unset or invalid means no limit)
// prints a line on stderr and aborts the process. Resident memory cannot show
// such a request, since an untouched reservation costs no pages; its size
// can. Allocations within the limit go to glibc's own allocator through its
// __libc_* entry points, so free() needs no replacement.
//
// It cannot be combined with AddressSanitizer, whose runtime must come first
// and owns malloc; ASan builds use max_allocation_size_mb instead (see
// integration/support/alloc_guard.h).
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

// glibc's allocator under names the shim does not replace. The names are
// glibc's, hence reserved ones.
// NOLINTBEGIN(bugprone-reserved-identifier)
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
}
// NOLINTEND(bugprone-reserved-identifier)

namespace {

// SIZE_MAX until the constructor has read the environment: allocations made
// while the process is still loading are never refused.
std::size_t g_limit = SIZE_MAX;

__attribute__((constructor)) void read_limit() {
  const char* text = std::getenv("FRAMED_ALLOC_LIMIT");
  if (text == nullptr || *text == '\0') return;
  std::size_t value = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return;
    const auto digit = static_cast<std::size_t>(*p - '0');
    if (value > (SIZE_MAX - digit) / 10) return;
    value = value * 10 + digit;
  }
  g_limit = value;
}

// Appends the decimal digits of `v` at `out`; returns the new end. Only
// async-signal-safe work happens on the way to abort(): no allocation.
char* put_number(char* out, std::size_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *out++ = digits[--n];
  return out;
}

char* put_text(char* out, const char* text) {
  while (*text != '\0') *out++ = *text++;
  return out;
}

[[noreturn]] void refuse(const char* function, std::size_t size) {
  char line[160];
  char* p = put_text(line, "framed alloc_guard: ");
  p = put_text(p, function);
  p = put_text(p, "(");
  p = put_number(p, size);
  p = put_text(p, ") is above FRAMED_ALLOC_LIMIT=");
  p = put_number(p, g_limit);
  p = put_text(p, "; aborting\n");
  const ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<std::size_t>(p - line));
  (void)ignored;
  std::abort();
}

void check(const char* function, std::size_t size) {
  if (size > g_limit) refuse(function, size);
}

// count * size, saturating, so an overflowing request counts as huge.
std::size_t product(std::size_t count, std::size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return SIZE_MAX;
  return count * size;
}

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  check("malloc", size);
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  check("calloc", product(count, size));
  return __libc_calloc(count, size);
}

void* realloc(void* ptr, std::size_t size) noexcept {
  check("realloc", size);
  return __libc_realloc(ptr, size);
}

void* reallocarray(void* ptr, std::size_t count, std::size_t size) noexcept {
  const std::size_t total = product(count, size);
  check("reallocarray", total);
  if (total == SIZE_MAX) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_realloc(ptr, total);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  check("aligned_alloc", size);
  return __libc_memalign(alignment, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  check("memalign", size);
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  check("posix_memalign", size);
  // The same validation glibc performs: a power of two multiple of a pointer.
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) {
    return EINVAL;
  }
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(std::size_t size) noexcept {
  check("valloc", size);
  return __libc_valloc(size);
}

void* pvalloc(std::size_t size) noexcept {
  check("pvalloc", size);
  return __libc_pvalloc(size);
}

}  // extern "C"
