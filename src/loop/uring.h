// The io_uring backend: a completion ring, not a readiness poller. Where
// poll and epoll say "this socket is ready" and the loop then calls read and
// write itself, a ring takes requests (accept, receive, send) and reports
// each one's result; many sockets' reads and writes cost one system call.
//
// This file is the narrow wrapper the completion transport drives
// (transport/uring_transport.cc): set-up with the probe, one request per call, a batch of
// completions per wait, and the provided-buffer ring that receives draw
// from. liburing stays inside uring.cc. Only the owning thread may use
// a Ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/socket.h"

namespace framed::loop {

// One completion, copied out of the kernel's queue.
struct Completion {
  std::uint64_t user_data = 0;  // As given with the request.
  std::int32_t res = 0;         // Bytes or a descriptor, or -errno.
  bool more = false;            // A multishot request stays armed.
  bool has_buffer = false;      // Data landed in provided buffer `buffer`.
  std::uint16_t buffer = 0;
};

struct RingOptions {
  // Provided buffers for receives: a power of two, 1 to 32768, each
  // `buffer_size` bytes. Too few and receives end with ENOBUFS (and are
  // re-armed); buffers x buffer_size of address space per ring, resident
  // only as far as the kernel has written into it.
  unsigned buffers = 256;
  std::size_t buffer_size = 64U << 10U;
  // Completion queue entries (rounded up to a power of two, at most 65536);
  // sized by the caller to the requests that can be outstanding at once.
  unsigned cq_entries = 4096;
  // Created disabled (IORING_SETUP_R_DISABLED), without the functional
  // probe (which needs submissions): for a ring set up on one thread and
  // used on another, which calls enable() first and is then its only
  // submitter (SINGLE_ISSUER binds to the enabling thread). Creating every
  // worker's ring before any worker runs means their descriptors exist
  // before the first connection can exhaust the limit.
  bool disabled = false;
};

class Ring {
 public:
  // Creates a ring and checks that this kernel does what the loop needs:
  // SINGLE_ISSUER with DEFER_TASKRUN (else COOP_TASKRUN, else neither),
  // waits with a timeout, a registered buffer ring, and a receive that really
  // delivers into it (tried on a socketpair). Returns null and
  // sets `why` ("io_uring_setup: Operation not permitted") when any part is
  // refused: seccomp, kernel.io_uring_disabled, an older kernel.
  static std::unique_ptr<Ring> create(const RingOptions& options, std::string& why);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Enables a ring created disabled, making the calling thread its
  // submitter. Returns the failing call, if any.
  net::SysError enable();

  // The set-up flags the kernel accepted, for the start-up log.
  [[nodiscard]] const std::string& mode() const noexcept { return mode_; }

  // Each queues one request (submitted at the next wait(), or at once when
  // the submission queue is full). Completions carry `user_data`.
  // One accept into `addr` (with `*len` its size), which must stay valid
  // until the completion. (A multishot accept reports no address, and a
  // peer that reset before getpeername() has none left to ask for.)
  void accept(int listener, sockaddr_storage* addr, socklen_t* len, std::uint64_t user_data);
  // One receive into one provided buffer, taken only once the socket is
  // readable (IORING_RECVSEND_POLL_FIRST), so an idle connection neither
  // holds a buffer nor fails for want of one. res is the bytes received, 0
  // at EOF, -ENOBUFS when the buffer ring was empty (the data waits in the
  // socket: receive again once buffers are recycled).
  //
  // Not multishot, on measurement: a multishot receive keeps receiving
  // inside one io_uring_enter while the socket has data, into every free
  // buffer, so a client that writes and never reads put megabytes past
  // the backlog cap before the pause could act (16 such clients: 81 MiB of
  // server memory against 4.6 MiB with epoll). Re-arming per completion
  // keeps the overshoot to one buffer, and cost no measurable CPU.
  void recv(int fd, std::uint64_t user_data);
  // Sends `bytes`, which must stay valid and unmoved until the completion.
  // MSG_NOSIGNAL: a reset peer is an EPIPE result, never a SIGPIPE.
  void send(int fd, std::span<const std::byte> bytes, std::uint64_t user_data);
  void poll_multishot(int fd, std::uint64_t user_data);
  // One completion when `fd` is writable (or in error): how a non-blocking
  // connect is waited for.
  void poll_writable(int fd, std::uint64_t user_data);
  // Cancels every request carrying `target` (its completions then arrive,
  // usually with -ECANCELED); the cancel's own completion carries
  // `user_data`.
  void cancel(std::uint64_t target, std::uint64_t user_data);

  // Submits what is queued. Returns the failing call, if any.
  net::SysError submit();
  // Submits, then waits up to `timeout_ms` (-1: no limit) for at least one
  // completion, and replaces `out` with every completion ready. A timeout or
  // EINTR is success with no completions.
  net::SysError wait(int timeout_ms, std::vector<Completion>& out);

  // The bytes a completion delivered into provided buffer `id`.
  [[nodiscard]] std::span<const std::byte> buffer(std::uint16_t id, std::size_t n) const noexcept;
  // Gives buffer `id` back to the kernel (visible at the next recycle batch,
  // published by wait()).
  void recycle(std::uint16_t id) noexcept;

 private:
  struct Impl;
  explicit Ring(std::unique_ptr<Impl> impl, std::string mode);
  std::unique_ptr<Impl> impl_;
  std::string mode_;
};

// True when this build has the io_uring backend (liburing was found).
[[nodiscard]] bool uring_built() noexcept;

}  // namespace framed::loop
