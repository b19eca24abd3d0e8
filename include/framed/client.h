/// @file
/// framed::Client: a blocking client for length-prefixed frames, for
/// programs, tools and tests. One connection; every call is bounded by a
/// timeout and returns an Error (empty on success) instead of throwing.
///
///   framed::Client c;
///   if (framed::Error e = c.connect("127.0.0.1", 7777)) { /* e.message */ }
///   c.send_frame(request);
///   std::vector<std::byte> reply;
///   if (framed::Error e = c.receive_frame(reply, std::chrono::seconds(2))) { ... }
///
/// pipeline() keeps a window of requests in flight and writes and reads at
/// once, so it never deadlocks against a server that applies backpressure.
/// The socket is non-blocking and close-on-exec, and SIGPIPE is never raised
/// (sends use MSG_NOSIGNAL). A Client is used from one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "framed/decoder.h"
#include "framed/error.h"

namespace framed {

namespace detail {
struct TlsStream;
}  // namespace detail

/// TLS for a Client (OpenSSL 3; see tls_supported() in framed/server.h).
/// The server's certificate is always verified, against ca_file or else the
/// system's trust store, and must name server_name (else the host given to
/// connect()).
struct ClientTlsOptions {
  bool enabled = false;
  std::string ca_file;              ///< PEM CA certificates to trust; empty: the system's.
  std::string cert_file;            ///< PEM client certificate, for mutual TLS.
  std::string key_file;             ///< Its PEM private key.
  std::string server_name;          ///< SNI and the name to verify; empty: the host.
  std::string min_version = "1.2";  ///< "1.2" or "1.3".
};

class Client {
 public:
  using Duration = std::chrono::milliseconds;

  Client() = default;
  ~Client();  ///< Closes the connection, if any.
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Connects to host:port (an address or a name; each address it resolves
  /// to is tried in turn) within `timeout` in all, closing any earlier
  /// connection first. Errc::resolve (with the resolver's message),
  /// Errc::connect (refused, unreachable: the last address's reason), or
  /// Errc::timed_out.
  Error connect(const std::string& host, std::uint16_t port, Duration timeout = Duration(5'000));
  /// TLS for the next connect(), whose timeout then covers the handshake
  /// too. A failed handshake returns Errc::tls with OpenSSL's reason
  /// ("certificate verify failed"); a build without TLS, Errc::invalid_argument.
  void set_tls(ClientTlsOptions options) { tls_options_ = std::move(options); }
  /// Whether this build has TLS (OpenSSL 3 was found when it was built).
  [[nodiscard]] static bool tls_supported() noexcept;
  [[nodiscard]] bool connected() const noexcept { return fd_ >= 0; }
  /// The socket (-1 when not connected), for a caller that needs an option
  /// or its own poll(); reading from it bypasses the client's buffer.
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// Replies above `limit` bytes are a protocol error (default
  /// kDefaultMaxFrame); from the next frame on if one is being received.
  void set_max_frame(std::uint32_t limit) noexcept;

  /// Sends one frame (its header, then `payload`) whole within `timeout`.
  /// Errc::timed_out if the server did not take it all in time (part may
  /// have been sent), Errc::reset if the connection broke,
  /// Errc::invalid_argument if not connected or the payload is above 4 GiB.
  Error send_frame(std::span<const std::byte> payload, Duration timeout = Duration(10'000));
  /// Sends `bytes` as they are (a partial frame, a hostile header): for
  /// tests and tools that speak the protocol wrongly on purpose.
  Error send(std::span<const std::byte> bytes, Duration timeout = Duration(10'000));
  /// Receives the next frame whole into `payload` (replacing what it held)
  /// within `timeout`. Errc::timed_out (what arrived of the frame is kept
  /// for the next call), Errc::closed (the server closed; the message says
  /// whether it did so mid-frame), Errc::reset, or Errc::protocol (a frame
  /// above the limit; the connection is closed).
  Error receive_frame(std::vector<std::byte>& payload, Duration timeout = Duration(10'000));
  /// Ends our side of the connection: the server sees EOF, and replies can
  /// still be received.
  Error shutdown_write();
  void close() noexcept;

  struct PipelineOptions {
    std::size_t window = 16;   ///< Requests sent and not yet answered, at most.
    Duration timeout{10'000};  ///< The longest wait without any progress.
    /// When non-zero, writes are cut at random sizes drawn from this seed,
    /// so that a server sees frames split at every kind of boundary.
    std::uint64_t split_seed = 0;
  };
  /// Makes request `index`'s payload into `out` (cleared by the caller).
  using Request = std::function<void(std::size_t index, std::vector<std::byte>& out)>;
  /// Takes reply `index` (replies come in request order); false stops the
  /// pipeline (an Errc::other error saying so).
  using OnReply = std::function<bool(std::size_t index, std::span<const std::byte> payload)>;
  /// Sends `count` requests and takes one reply frame to each, keeping at
  /// most options.window unanswered, writing and reading at once. Stops at
  /// the first error (the message says how many replies came).
  Error pipeline(std::size_t count, const Request& request, const OnReply& on_reply,
                 const PipelineOptions& options);
  Error pipeline(std::size_t count, const Request& request, const OnReply& on_reply) {
    return pipeline(count, request, on_reply, PipelineOptions{});
  }

 private:
  /// Feeds buffered input to the decoder; true once a whole frame is in
  /// frame_ (then frame_ready_). Sets `error` on a protocol error.
  bool decode(Error& error);
  /// Reads what the socket has into the buffer. Returns an error on EOF
  /// (Errc::closed) or failure; would-block is no error.
  Error fill();
  Error write_all(std::span<const std::byte> bytes, Duration timeout);

  // Writes some of `bytes`, through TLS when it is on.
  Error write_some(std::span<const std::byte> bytes, std::size_t& done, bool& would_block);
  // Waits up to `left` for `events` (POLLIN, POLLOUT), or for what TLS
  // needs first. Returns the events that came (0: timed out); POLLIN at
  // once when TLS holds decrypted input already.
  short wait(short events, std::chrono::steady_clock::duration left);

  int fd_ = -1;
  ClientTlsOptions tls_options_;
  detail::TlsStream* tls_ = nullptr;  ///< Owned; null without TLS.
  std::uint32_t max_frame_ = kDefaultMaxFrame;
  Decoder decoder_{kDefaultMaxFrame};
  std::vector<std::byte> in_;  ///< Read and not yet decoded: in_[in_head_, in_size_).
  std::size_t in_head_ = 0;
  std::size_t in_size_ = 0;
  std::vector<std::byte> frame_;  ///< The frame being received.
  bool frame_ready_ = false;
};

}  // namespace framed
