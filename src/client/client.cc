#include "framed/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <random>
#include <utility>

#include "client/tls_stream.h"
#include "framed/encoder.h"
#include "net/fd.h"
#include "net/socket.h"

namespace framed {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadSize = 64U << 10U;

// Waits up to `left` for `events` on `fd`. Returns the revents (0: timed out).
short wait_for(int fd, short events, Clock::duration left) {
  const auto ms =
      std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(left).count());
  pollfd p{fd, events, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(ms, INT32_MAX)));
    if (rc > 0) return p.revents;
    if (rc == 0 || errno != EINTR) return 0;
  }
}

Errc kind_of(const net::SysError& e) noexcept {
  switch (e.code) {
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED: return Errc::reset;
    default: return Errc::io;
  }
}

Error io_error(const net::SysError& e) { return {e.message(), kind_of(e)}; }

}  // namespace

Client::~Client() { close(); }

Client::Client(Client&& other) noexcept { *this = std::move(other); }

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    tls_options_ = other.tls_options_;
    tls_ = std::exchange(other.tls_, nullptr);
    max_frame_ = other.max_frame_;
    decoder_ = other.decoder_;
    in_ = std::move(other.in_);
    in_head_ = std::exchange(other.in_head_, 0);
    in_size_ = std::exchange(other.in_size_, 0);
    frame_ = std::move(other.frame_);
    frame_ready_ = std::exchange(other.frame_ready_, false);
  }
  return *this;
}

void Client::close() noexcept {
  detail::tls_free(tls_);
  tls_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  decoder_ = Decoder(max_frame_);
  in_head_ = in_size_ = 0;
  frame_.clear();
  frame_ready_ = false;
}

void Client::set_max_frame(std::uint32_t limit) noexcept {
  max_frame_ = limit;
  if (!decoder_.in_frame()) decoder_ = Decoder(limit);
}

Error Client::connect(const std::string& host, std::uint16_t port, Duration timeout) {
  close();
  const auto give_up = Clock::now() + timeout;
  std::vector<net::Endpoint> candidates;
  std::string detail;
  if (const auto e = net::resolve(host, port, false, candidates, detail); !e.ok()) {
    return {"cannot resolve '" + host + "': " + detail, Errc::resolve};
  }
  if (candidates.empty()) return {"cannot resolve '" + host + "': no address", Errc::resolve};
  Error last;
  for (const net::Endpoint& ep : candidates) {
    net::UniqueFd fd;
    if (const auto e = net::connect_to(ep, fd); !e.ok()) {
      last = {"cannot connect to " + ep.to_string() + ": " + e.message(), Errc::connect};
      continue;
    }
    const short got = wait_for(fd.get(), POLLOUT, give_up - Clock::now());
    if (got == 0) {
      return {"cannot connect to " + ep.to_string() + ": timed out after " +
                  std::to_string(timeout.count()) + "ms",
              Errc::timed_out};
    }
    if (const auto e = net::connect_result(fd.get()); !e.ok()) {
      last = {"cannot connect to " + ep.to_string() + ": " + e.message(), Errc::connect};
      continue;
    }
    (void)net::set_nodelay(fd.get());
    if (tls_options_.enabled) {
      Error e;
      tls_ = detail::tls_connect(fd.get(), tls_options_, host, give_up, e);
      if (tls_ == nullptr) return e;
    }
    fd_ = fd.release();
    in_.resize(kReadSize);
    return {};
  }
  return last;
}

Error Client::write_all(std::span<const std::byte> bytes, Duration timeout) {
  if (fd_ < 0) return {"not connected", Errc::invalid_argument};
  const auto give_up = Clock::now() + timeout;
  std::size_t done = 0;
  while (done < bytes.size()) {
    std::size_t n = 0;
    bool would_block = false;
    if (Error e = write_some(bytes.subspan(done), n, would_block)) return e;
    done += n;
    if (done == bytes.size()) break;
    if (would_block && wait(POLLOUT, give_up - Clock::now()) == 0) {
      return {"timed out after " + std::to_string(timeout.count()) + "ms with " +
                  std::to_string(bytes.size() - done) + " of " + std::to_string(bytes.size()) +
                  " bytes unsent (the server is not reading)",
              Errc::timed_out};
    }
  }
  return {};
}

Error Client::write_some(std::span<const std::byte> bytes, std::size_t& done, bool& would_block) {
  if (tls_ != nullptr) {
    const detail::TlsIo w = detail::tls_write(*tls_, bytes);
    done = w.bytes;
    would_block = w.would_block;
    return w.error;
  }
  const net::IoResult w = net::write_some(fd_, bytes);
  done = w.bytes;
  would_block = w.would_block;
  return w.error.ok() ? Error{} : io_error(w.error);
}

short Client::wait(short events, Clock::duration left) {
  if (tls_ != nullptr && (events & POLLIN) != 0 && detail::tls_buffered(*tls_)) return POLLIN;
  // Over TLS a write may need a read first (and the reverse): waiting for
  // both costs at most a spurious wake-up, and the retry sorts it out.
  if (tls_ != nullptr) events = static_cast<short>(events | POLLIN);
  return wait_for(fd_, events, left);
}

Error Client::send(std::span<const std::byte> bytes, Duration timeout) {
  return write_all(bytes, timeout);
}

Error Client::send_frame(std::span<const std::byte> payload, Duration timeout) {
  if (payload.size() > 0xFFFFFFFFU) {
    return {"a frame's payload is at most 4 GiB - 1 bytes", Errc::invalid_argument};
  }
  const auto give_up = Clock::now() + timeout;
  const auto header = encode_header(static_cast<std::uint32_t>(payload.size()));
  if (Error e = write_all(header, timeout)) return e;
  const auto left = std::chrono::duration_cast<Duration>(give_up - Clock::now());
  return write_all(payload, std::max(left, Duration(0)));
}

Error Client::shutdown_write() {
  if (fd_ < 0) return {"not connected", Errc::invalid_argument};
  if (tls_ != nullptr) detail::tls_close_notify(*tls_);
  if (::shutdown(fd_, SHUT_WR) != 0) return io_error({"shutdown", errno});
  return {};
}

Error Client::fill() {
  if (in_head_ == in_size_) in_head_ = in_size_ = 0;
  if (in_size_ == in_.size()) {
    // Compact: keep what is not yet decoded at the front.
    std::copy(in_.begin() + static_cast<std::ptrdiff_t>(in_head_),
              in_.begin() + static_cast<std::ptrdiff_t>(in_size_), in_.begin());
    in_size_ -= in_head_;
    in_head_ = 0;
  }
  net::IoResult r;
  if (tls_ != nullptr) {
    const detail::TlsIo t = detail::tls_read(*tls_, std::span(in_).subspan(in_size_));
    if (t.error) return t.error;
    r.bytes = t.bytes;
    r.eof = t.eof;
    r.would_block = t.would_block;
  } else {
    r = net::read_some(fd_, std::span(in_).subspan(in_size_));
  }
  if (!r.error.ok()) return io_error(r.error);
  if (r.eof) {
    return {decoder_.in_frame()
                ? "the server closed the connection mid-frame (" + std::to_string(frame_.size()) +
                      " payload bytes of " + std::to_string(decoder_.frame_length()) + " received)"
                : std::string("the server closed the connection"),
            Errc::closed};
  }
  in_size_ += r.bytes;
  return {};
}

bool Client::decode(Error& error) {
  while (!frame_ready_ && in_head_ < in_size_) {
    // A limit set mid-frame applies from the next frame.
    if (!decoder_.in_frame() && decoder_.max_frame() != max_frame_) decoder_ = Decoder(max_frame_);
    const std::span<const std::byte> avail(in_.data() + in_head_, in_size_ - in_head_);
    const DecodeResult r = decoder_.feed(avail);
    in_head_ += r.consumed;
    if (r.status == DecodeStatus::error) {
      error = {"the server sent a frame of " + std::to_string(decoder_.frame_length()) +
                   " bytes, above the limit of " + std::to_string(max_frame_),
               Errc::protocol};
      close();
      return false;
    }
    if (r.status != DecodeStatus::chunk) break;
    if (r.chunk_offset == 0) frame_.clear();
    frame_.insert(frame_.end(), r.payload.begin(), r.payload.end());
    if (r.frame_end) frame_ready_ = true;
  }
  return frame_ready_;
}

Error Client::receive_frame(std::vector<std::byte>& payload, Duration timeout) {
  if (fd_ < 0) return {"not connected", Errc::invalid_argument};
  const auto give_up = Clock::now() + timeout;
  Error error;
  while (!decode(error)) {
    if (error) return error;
    if (wait(POLLIN, give_up - Clock::now()) == 0) {
      return {"no frame within " + std::to_string(timeout.count()) + "ms" +
                  (decoder_.in_frame() ? " (" + std::to_string(frame_.size()) + " bytes of one)"
                                       : std::string()),
              Errc::timed_out};
    }
    if (Error e = fill()) return e;
  }
  payload.swap(frame_);
  frame_.clear();
  frame_ready_ = false;
  return {};
}

Error Client::pipeline(std::size_t count, const Request& request, const OnReply& on_reply,
                       const PipelineOptions& options) {
  if (fd_ < 0) return {"not connected", Errc::invalid_argument};
  if (options.window == 0) return {"the window must be at least 1", Errc::invalid_argument};
  std::mt19937_64 rng(options.split_seed);
  std::vector<std::byte> out;  // Encoded requests not yet written: out[out_head, ...).
  std::size_t out_head = 0;
  std::size_t sent = 0;
  std::size_t answered = 0;
  std::vector<std::byte> scratch;
  std::vector<std::byte> reply;
  const auto timeout_ms = std::to_string(options.timeout.count()) + "ms";
  auto after = [&](Error e) {
    e.message +=
        " (after " + std::to_string(answered) + " of " + std::to_string(count) + " replies)";
    return e;
  };
  while (answered < count) {
    while (sent < count && sent - answered < options.window) {
      scratch.clear();
      request(sent, scratch);
      if (!append_frame(out, scratch)) {
        return after({"request " + std::to_string(sent) + " is too large to encode",
                      Errc::invalid_argument});
      }
      ++sent;
    }
    // Replies already buffered are taken before waiting for more.
    Error error;
    if (decode(error)) {
      reply.swap(frame_);
      frame_.clear();
      frame_ready_ = false;
      if (!on_reply(answered, reply)) return after({"stopped by the reply handler", Errc::other});
      ++answered;
      continue;
    }
    if (error) return after(error);
    const bool have_output = out_head < out.size();
    const short got =
        wait(static_cast<short>(POLLIN | (have_output ? POLLOUT : 0)), options.timeout);
    if (got == 0) return after({"no progress for " + timeout_ms, Errc::timed_out});
    if ((got & POLLOUT) != 0 && have_output) {
      std::size_t n = out.size() - out_head;
      // (Not over TLS, whose retried write must not shrink.)
      if (options.split_seed != 0 && tls_ == nullptr) {
        // Mostly small pieces, sometimes everything: every boundary gets hit.
        const std::size_t cap = (rng() % 4 == 0) ? n : 1 + rng() % 4096;
        n = std::min(n, cap);
      }
      std::size_t wrote = 0;
      bool would_block = false;
      if (Error e = write_some({out.data() + out_head, n}, wrote, would_block)) return after(e);
      out_head += wrote;
      if (out_head == out.size()) {
        out.clear();
        out_head = 0;
      }
    }
    if ((got & (POLLIN | POLLHUP | POLLERR)) != 0) {
      if (Error e = fill()) return after(e);
    }
  }
  return {};
}

}  // namespace framed
