// Fuzzes the TLS glue (src/tls/: the layer between OpenSSL's BIO and the
// connection logic) under the real Worker and Conn on the simulated
// transport (sim/rig.h), with a real OpenSSL client. The input decides how
// the client's records are cut on their way to the server (every split of
// the handshake and of the data), whether the server's output backs up
// (small simulated buffers, a small backlog cap), how the client ends
// (close_notify, a bare FIN, nothing), and where one byte of the client's
// ciphertext is corrupted, if at all.
//
// Checked: nothing crashes, leaks or trips a sanitizer; without corruption
// every frame comes back, in order, byte for byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "framed/encoder.h"
#include "tls_peer.h"

namespace {

using framed::sim::Rig;
using framed::sim::SimConn;
using framed::sim::TlsPeer;

// Reads the input a byte at a time; zeros once it runs out. Layout: flags,
// the corrupted byte's offset (2 bytes), the largest piece (1), the pieces'
// seed (2), then two bytes per frame (its size / 64, its fill seed).
struct Input {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  std::uint8_t next() { return at < size ? data[at++] : 0; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  const std::uint8_t flags = in.next();
  const bool corrupt = (flags & 1U) != 0;
  const std::uint8_t end = (flags >> 1U) & 3U;  // 0 none, 1 close_notify, 2 FIN only.
  const bool backed_up = (flags & 8U) != 0;
  const bool tls12 = (flags & 16U) != 0;
  // Reads larger than the layer hands up at once (64 KiB of plaintext), so
  // that input is held in the layer itself under backpressure.
  const bool big_reads = (flags & 32U) != 0;
  const std::size_t corrupt_at = (std::size_t{in.next()} << 8U) | in.next();

  framed::ServerOptions o;
  o.log_level = framed::LogLevel::off;
  o.tls.cert_file = framed::sim::kCerts + "/server.pem";
  o.tls.key_file = framed::sim::kCerts + "/server.key";
  framed::sim::SimOptions sim;
  if (big_reads) o.read_chunk = 256U << 10U;
  if (backed_up) {
    o.backlog_cap = 4096;
    sim.server_sndbuf = 2048;
    sim.peer_rcvbuf = 2048;
  }
  Rig rig(o, nullptr, sim);
  const std::size_t c = rig.net().connect();
  rig.settle();
  if (rig.net().conn(c).phase != SimConn::Phase::accepted) std::abort();
  TlsPeer peer(rig, c, {.max_version = tls12 ? TLS1_2_VERSION : TLS1_3_VERSION});
  if (!peer.loaded()) std::abort();

  // The client's output is cut into pieces of 1 to `largest` bytes, drawn
  // from a generator the input seeds (so that a short input still cuts a
  // long stream everywhere).
  const std::size_t largest = std::size_t{in.next()} * 64U + 1U;
  std::uint32_t state = (std::uint32_t{in.next()} << 8U) | in.next() | 1U;
  std::size_t sent = 0;
  peer.next_piece = [&] {
    state ^= state << 13U;
    state ^= state >> 17U;
    state ^= state << 5U;
    return 1U + state % largest;
  };
  if (!peer.handshake()) return 0;  // Only a corrupted input may fail it.

  // Frames from the rest of the input: up to 16, each of 0 to 16320 bytes
  // (64 times a byte) filled from a seed byte, so that a few input bytes
  // make hundreds of KiB.
  std::vector<std::byte> stream;
  for (int i = 0; i < 16 && in.at < in.size; ++i) {
    std::vector<std::byte> payload(std::size_t{in.next()} * 64U);
    const std::uint8_t seed = in.next();
    for (std::size_t k = 0; k < payload.size(); ++k) {
      payload[k] = static_cast<std::byte>((seed + k * 131U) & 0xFFU);
    }
    (void)framed::append_frame(stream, payload);
  }
  std::size_t done = 0;
  if (!stream.empty() && SSL_write_ex(peer.ssl(), stream.data(), stream.size(), &done) != 1) {
    std::abort();
  }
  if (corrupt) {
    // One byte of the client's records flipped before it goes out: the
    // server must fail the connection, never crash or echo garbage.
    std::vector<std::byte> out(1 << 16);
    const int n = BIO_read(SSL_get_wbio(peer.ssl()), out.data(), static_cast<int>(out.size()));
    if (n > 0) {
      out.resize(static_cast<std::size_t>(n));
      out[corrupt_at % out.size()] ^= std::byte{0x5A};
      sent += rig.net().peer_send(c, out);
      rig.settle();
    }
  }
  if (end == 1) (void)SSL_shutdown(peer.ssl());
  peer.pump(SIZE_MAX, false);
  if (end != 0) {
    rig.net().peer_shutdown(c);
    rig.settle();
  }
  std::vector<std::byte> echoed;
  for (int round = 0; round < 5000 && echoed.size() < stream.size(); ++round) {
    const auto got = peer.read();
    if (got.empty() && round > 20) break;
    echoed.insert(echoed.end(), got.begin(), got.end());
  }
  ERR_clear_error();
  if (!corrupt && echoed != stream) std::abort();
  (void)sent;
  return 0;
}
