// TLS under the connection rules, on the manual clock: the real Worker,
// Conn and TLS layer (tls/tls_transport.h) over the simulated transport
// (sim/rig.h), with a client that is a real OpenSSL session speaking
// through memory BIOs. Every byte the client sends goes through
// SimTransport, so splits, backpressure and deadlines are exact and the
// same every run (spec/PROTOCOL.md §7).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <string>
#include <vector>

#include "framed/encoder.h"
#include "sim/rig.h"
#include "tls_peer.h"

namespace framed::sim {
namespace {

using std::chrono::milliseconds;

std::vector<std::byte> frame(const std::string& payload) {
  std::vector<std::byte> out;
  const auto p = std::as_bytes(std::span(payload.data(), payload.size()));
  (void)append_frame(out, p);
  return out;
}

ServerOptions tls_options() {
  ServerOptions o;
  o.log_level = LogLevel::debug;
  o.tls.cert_file = kCerts + "/server.pem";
  o.tls.key_file = kCerts + "/server.key";
  return o;
}

std::size_t connect(Rig& rig) {
  const std::size_t id = rig.net().connect();
  rig.settle();
  EXPECT_EQ(rig.net().conn(id).phase, SimConn::Phase::accepted);
  return id;
}

std::vector<std::byte> cat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(TlsRules, EchoesFramesOverTlsAndCountsThemOnceTheirRecordsAreTaken) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.loaded());
  ASSERT_TRUE(peer.handshake());
  EXPECT_TRUE(rig.logged("TLS handshake done"));
  const auto input = cat(cat(frame("hello"), frame("")), frame(std::string(40'000, 'x')));
  ASSERT_TRUE(peer.write(input));
  EXPECT_EQ(peer.read(), input);
  EXPECT_EQ(peer.short_sends_, 0U);
  EXPECT_EQ(rig.worker().counters().frames_echoed.load(), 3U);
}

TEST(TlsRules, TheLayersOwnRecordsAreNotEchoesNorActivity) {
  auto o = tls_options();
  o.idle_timeout = milliseconds(1'000);
  Rig rig(o);
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.handshake());
  // The handshake and the tickets were written, and are acknowledged by now:
  // none of it is an echo, nor the peer's activity.
  EXPECT_GT(rig.net().conn(c).written, 1'000U);
  EXPECT_EQ(rig.worker().counters().bytes_echoed.load(), 0U);
  rig.advance(milliseconds(999));
  EXPECT_FALSE(rig.net().conn(c).server_fin);
  rig.advance(milliseconds(1));
  EXPECT_TRUE(rig.logged("closing: idle timeout 1000ms")) << "at its deadline, not postponed";
}

TEST(TlsRules, AClientHelloSentOneByteAtATimeStillCompletes) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.handshake(1));
  peer.write(frame("split"));
  EXPECT_EQ(peer.read(), frame("split"));
}

TEST(TlsRules, TheHandshakeTimeoutClosesAtItsExactDeadline) {
  auto o = tls_options();
  o.tls.handshake_timeout = milliseconds(5'000);
  o.idle_timeout = milliseconds(0);
  Rig rig(o);
  const auto c = connect(rig);
  // Half a ClientHello, then nothing.
  TlsPeer peer(rig, c);
  ASSERT_NE(SSL_do_handshake(peer.ssl()), 1);
  std::vector<std::byte> hello(512);
  const int n = BIO_read(SSL_get_wbio(peer.ssl()), hello.data(), 512);
  ASSERT_GT(n, 20);
  ASSERT_EQ(rig.net().peer_send(c, std::span(hello).first(static_cast<std::size_t>(n / 2))),
            static_cast<std::size_t>(n / 2));
  rig.settle();
  rig.advance(milliseconds(4'999));
  EXPECT_FALSE(rig.net().conn(c).server_fin);
  rig.advance(milliseconds(1));
  EXPECT_TRUE(rig.net().conn(c).server_fin || rig.net().conn(c).server_closed);
  EXPECT_TRUE(rig.logged("TLS handshake timeout: not finished 5000ms after the accept"));
  EXPECT_EQ(rig.worker().counters().timed_out.load(), 1U);
}

TEST(TlsRules, APlainTextClientIsClosedWithTheReasonAndGetsNoEcho) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  ASSERT_EQ(rig.net().peer_send(c, frame("plain")), 9U);
  rig.settle();
  const auto got = rig.read_all(c);
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_TRUE(rig.logged("TLS handshake failed: "));
  // Never the frame (OpenSSL sends no alert to what is not TLS at all).
  const auto f = frame("plain");
  EXPECT_EQ(std::search(got.begin(), got.end(), f.begin(), f.end()), got.end());
}

TEST(TlsRules, AGracefulCloseSendsCloseNotifyBeforeTheFin) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.handshake());
  peer.write(frame("bye"));
  // The client ends its input the TLS way, then with a FIN.
  ASSERT_EQ(SSL_shutdown(peer.ssl()), 0);
  peer.pump();
  rig.net().peer_shutdown(c);
  rig.settle();
  int status = 0;
  EXPECT_EQ(peer.read(&status), frame("bye"));
  EXPECT_EQ(status, SSL_ERROR_ZERO_RETURN) << "the server's close_notify, not a bare FIN";
  EXPECT_TRUE(rig.net().conn(c).server_fin || rig.net().conn(c).server_closed);
  EXPECT_FALSE(rig.net().conn(c).server_rst);
}

TEST(TlsRules, AFinWithoutCloseNotifyIsTheEndOfInputAndAFrameCutByItIsReported) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.handshake());
  auto f = frame("truncated");
  f.resize(6);
  peer.write(f);
  rig.net().peer_shutdown(c);
  rig.settle();
  EXPECT_TRUE(rig.logged("peer closed mid-frame at stream offset 6"));
}

TEST(TlsRules, GarbageAfterTheHandshakeClosesOnlyThatConnection) {
  Rig rig(tls_options());
  const auto bad = connect(rig);
  const auto good = connect(rig);
  TlsPeer bad_peer(rig, bad);
  TlsPeer good_peer(rig, good);
  ASSERT_TRUE(bad_peer.handshake());
  ASSERT_TRUE(good_peer.handshake());
  std::vector<std::byte> junk(300, std::byte{0x17});
  ASSERT_EQ(rig.net().peer_send(bad, junk), junk.size());
  rig.settle();
  EXPECT_TRUE(rig.net().conn(bad).server_closed);
  EXPECT_TRUE(rig.logged("TLS: "));
  good_peer.write(frame("still here"));
  EXPECT_EQ(good_peer.read(), frame("still here"));
}

// How the client ends its input after a burst the server holds back.
enum class End { none, close_notify, fin_only };
class HeldInput : public ::testing::TestWithParam<End> {};

TEST_P(HeldInput, IsDeliveredOnceThePeerReadsAndAnEndBehindItWaits) {
  auto o = tls_options();
  o.backlog_cap = 8U << 10U;
  // Small kernel buffers toward the client, so that output backs up in the
  // outbox; the server reads the client's whole burst in one read, more
  // than the TLS layer hands up at once (64 KiB of plaintext).
  o.read_chunk = 256U << 10U;
  Rig rig(o, nullptr, {.server_sndbuf = 4096, .peer_rcvbuf = 4096});
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.handshake());
  std::vector<std::byte> input;
  for (int i = 0; i < 150; ++i) {
    input = cat(input, frame(std::string(1000, static_cast<char>('a' + i % 26))));
  }
  std::size_t done = 0;
  ASSERT_EQ(SSL_write_ex(peer.ssl(), input.data(), input.size(), &done), 1);
  // All of it reaches the server, which stops at the cap with the rest of
  // its read held in the TLS layer: nothing more will arrive to wake it.
  if (GetParam() != End::none) {
    // The client's end right behind its burst: it must not overtake the
    // input held in the server's TLS layer.
    if (GetParam() == End::close_notify) {
      ASSERT_EQ(SSL_shutdown(peer.ssl()), 0);
    }
    peer.pump(SIZE_MAX, false);
    rig.net().peer_shutdown(c);
    rig.settle();
  }
  peer.pump(SIZE_MAX, false);
  EXPECT_LT(rig.worker().counters().frames_echoed.load(), 150U);
  // A frame counts as echoed only once the kernel took its last record:
  // never more frames than the bytes written could hold.
  EXPECT_LE(rig.worker().counters().frames_echoed.load() * 1004, rig.net().conn(c).written);
  std::vector<std::byte> echoed;
  for (int round = 0; round < 200 && echoed.size() < input.size(); ++round) {
    const auto got = peer.read();
    echoed.insert(echoed.end(), got.begin(), got.end());
  }
  EXPECT_EQ(echoed, input);
  EXPECT_EQ(rig.worker().counters().frames_echoed.load(), 150U);
  EXPECT_FALSE(rig.logged("mid-frame")) << "the end came before the input it followed";
  if (GetParam() != End::none) {
    EXPECT_TRUE(rig.net().conn(c).server_fin || rig.net().conn(c).server_closed);
  }
}

INSTANTIATE_TEST_SUITE_P(Ends, HeldInput,
                         ::testing::Values(End::none, End::close_notify, End::fin_only),
                         [](const auto& param_info) {
                           switch (param_info.param) {
                             case End::none: return std::string("none");
                             case End::close_notify: return std::string("close_notify");
                             case End::fin_only: return std::string("fin_only");
                           }
                           return std::string("?");
                         });

TEST(TlsRules, ADrainCloseAHandshakeInProgress) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  rig.begin_shutdown();
  rig.settle();
  EXPECT_TRUE(rig.net().conn(c).server_fin || rig.net().conn(c).server_closed);
}

TEST(TlsRules, AHandshakeCutShortByTheDrainIsNotContinued) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_NE(SSL_do_handshake(peer.ssl()), 1);
  std::vector<std::byte> hello(4096);
  const int n = BIO_read(SSL_get_wbio(peer.ssl()), hello.data(), 4096);
  ASSERT_GT(n, 10);
  hello.resize(static_cast<std::size_t>(n));
  // Half the ClientHello, the drain, then the rest.
  const std::size_t half = hello.size() / 2;
  ASSERT_EQ(rig.net().peer_send(c, std::span(hello).first(half)), half);
  rig.settle();
  rig.begin_shutdown();
  const auto written = rig.net().conn(c).written;
  (void)rig.net().peer_send(c, std::span(hello).subspan(half));
  rig.settle();
  EXPECT_EQ(rig.net().conn(c).written, written) << "no ServerHello after the close began";
}

// The default lists are Mozilla's "intermediate": a client offering
// OpenSSL's own order (AES-256-GCM first) gets AES-128-GCM, in TLS 1.3 and
// in TLS 1.2; an operator's list replaces it.
TEST(TlsRules, TheServersCipherOrderPrefersAes128UnlessTheOperatorChooses) {
  const auto negotiated = [](const ServerOptions& o, int max_version) {
    Rig rig(o);
    const auto c = connect(rig);
    TlsPeer peer(rig, c, {.max_version = max_version});
    if (!peer.handshake()) return std::string("no handshake");
    return std::string(SSL_CIPHER_get_name(SSL_get_current_cipher(peer.ssl())));
  };
  EXPECT_EQ(negotiated(tls_options(), TLS1_3_VERSION), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(negotiated(tls_options(), TLS1_2_VERSION), "ECDHE-ECDSA-AES128-GCM-SHA256");
  auto chosen = tls_options();
  chosen.tls.ciphersuites = "TLS_AES_256_GCM_SHA384";
  chosen.tls.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
  EXPECT_EQ(negotiated(chosen, TLS1_3_VERSION), "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(negotiated(chosen, TLS1_2_VERSION), "ECDHE-ECDSA-CHACHA20-POLY1305");
}

TEST(TlsRules, RenegotiationIsRefusedAndTheServerGoesOn) {
  Rig rig(tls_options());
  const auto c = connect(rig);
  TlsPeer peer(rig, c, {.max_version = TLS1_2_VERSION});
  ASSERT_TRUE(peer.handshake());
  ASSERT_EQ(SSL_version(peer.ssl()), TLS1_2_VERSION);
  ASSERT_EQ(SSL_renegotiate(peer.ssl()), 1);
  // The server answers no_renegotiation: the client's new handshake never
  // completes (OpenSSL's client then gives up on the connection).
  bool renegotiated = false;
  for (int round = 0; round < 10 && !renegotiated; ++round) {
    renegotiated = SSL_do_handshake(peer.ssl()) == 1 && SSL_renegotiate_pending(peer.ssl()) == 0;
    peer.pump();
    (void)peer.read();
  }
  EXPECT_FALSE(renegotiated);
  EXPECT_EQ(rig.worker().counters().frames_echoed.load(), 0U);
  // Everyone else is served as before.
  const auto other = connect(rig);
  TlsPeer fresh(rig, other);
  ASSERT_TRUE(fresh.handshake());
  fresh.write(frame("after"));
  EXPECT_EQ(fresh.read(), frame("after"));
}

TEST(TlsRules, APlainProxyHeaderComesFirstThenTheHandshake) {
  auto o = tls_options();
  o.proxy_protocol = true;
  Rig rig(o);
  const auto c = connect(rig);
  const std::string v1 = "PROXY TCP4 10.0.0.1 10.0.0.2 1111 2222\r\n";
  const auto header = std::as_bytes(std::span(v1.data(), v1.size()));
  // The header alone, in two pieces; then TLS.
  ASSERT_EQ(rig.net().peer_send(c, header.first(10)), 10U);
  rig.settle();
  ASSERT_EQ(rig.net().peer_send(c, header.subspan(10)), v1.size() - 10);
  rig.settle();
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.handshake());
  peer.write(frame("proxied"));
  EXPECT_EQ(peer.read(), frame("proxied"));
  EXPECT_TRUE(rig.logged("conn 10.0.0.1:1111 via proxy"));
  EXPECT_TRUE(rig.logged("conn 10.0.0.1:1111 TLS handshake done"));
}

TEST(TlsRules, AProxyHeaderAndTheClientHelloInOneReadAreBothTaken) {
  auto o = tls_options();
  o.proxy_protocol = true;
  Rig rig(o);
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_NE(SSL_do_handshake(peer.ssl()), 1);
  std::vector<std::byte> hello(4096);
  const int n = BIO_read(SSL_get_wbio(peer.ssl()), hello.data(), 4096);
  ASSERT_GT(n, 0);
  hello.resize(static_cast<std::size_t>(n));
  const std::string v1 = "PROXY TCP4 10.0.0.1 10.0.0.2 1111 2222\r\n";
  std::vector<std::byte> both(v1.size());
  std::memcpy(both.data(), v1.data(), v1.size());
  both = cat(both, hello);
  ASSERT_EQ(rig.net().peer_send(c, both), both.size());
  ASSERT_TRUE(peer.handshake());
  peer.write(frame("together"));
  EXPECT_EQ(peer.read(), frame("together"));
}

TEST(TlsRules, ABadProxyHeaderClosesBeforeAnyHandshake) {
  auto o = tls_options();
  o.proxy_protocol = true;
  Rig rig(o);
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  EXPECT_FALSE(peer.handshake());
  EXPECT_TRUE(rig.logged("bad PROXY header"));
  EXPECT_FALSE(rig.logged("TLS handshake done"));
}

// Replies, then closes, in one callback.
struct ReplyThenClose final : FrameHandler {
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(payload);
    c.close("done");
  }
};

// Connection::close() delivers what was queued, then close_notify (found by
// review: close_notify was queued before the reply, which was then refused).
TEST(TlsRules, AReplySentBeforeCloseInTheSameCallbackIsDeliveredThenCloseNotify) {
  Rig rig(tls_options(), nullptr, {}, [](Loop&) { return std::make_unique<ReplyThenClose>(); });
  const auto c = connect(rig);
  TlsPeer peer(rig, c);
  ASSERT_TRUE(peer.handshake());
  peer.write(frame("last"));
  int status = 0;
  EXPECT_EQ(peer.read(&status), frame("last"));
  EXPECT_EQ(status, SSL_ERROR_ZERO_RETURN);
  EXPECT_FALSE(rig.logged("TLS send before the handshake"));
}

// One connection's OpenSSL error never reaches another's (found by review:
// the error queue is per thread, and a failed alert write left it full).
TEST(TlsRules, AnErrorOnOneConnectionNeverFailsAnother) {
  Rig rig(tls_options());
  const auto bad = connect(rig);
  const auto good = connect(rig);
  TlsPeer bad_peer(rig, bad);
  TlsPeer good_peer(rig, good);
  ASSERT_TRUE(bad_peer.handshake());
  ASSERT_TRUE(good_peer.handshake());
  // Junk, then a reset: the server's alert cannot be written.
  std::vector<std::byte> junk(300, std::byte{0x17});
  ASSERT_EQ(rig.net().peer_send(bad, junk), junk.size());
  rig.net().peer_reset(bad);
  rig.settle();
  EXPECT_TRUE(rig.net().conn(bad).server_closed);
  good_peer.write(frame("innocent"));
  EXPECT_EQ(good_peer.read(), frame("innocent"));
  EXPECT_FALSE(rig.net().conn(good).server_closed);
}

// Good data and a bad record in one read: the echo of the good data goes
// out, the connection fails with OpenSSL's reason, and nothing is left on
// the thread for the next connection.
TEST(TlsRules, ABadRecordBehindGoodDataIsLoggedWithItsReason) {
  auto o = tls_options();
  Rig rig(o);
  const auto c = connect(rig);
  const auto other = connect(rig);
  TlsPeer peer(rig, c);
  TlsPeer fine(rig, other);
  ASSERT_TRUE(peer.handshake());
  ASSERT_TRUE(fine.handshake());
  std::size_t done = 0;
  const auto f = frame("before");
  ASSERT_EQ(SSL_write_ex(peer.ssl(), f.data(), f.size(), &done), 1);
  std::vector<std::byte> out(4096);
  const int n = BIO_read(SSL_get_wbio(peer.ssl()), out.data(), 4096);
  ASSERT_GT(n, 0);
  out.resize(static_cast<std::size_t>(n));
  out.insert(out.end(), 64, std::byte{0x17});
  ASSERT_EQ(rig.net().peer_send(c, out), out.size());
  rig.settle();
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  EXPECT_FALSE(rig.logged("the peer sent a record that is not TLS")) << "OpenSSL's own reason";
  EXPECT_TRUE(rig.logged("TLS: ")) << [&] {
    std::string all;
    for (const auto& l : rig.take_log()) all += l + "\n";
    return all;
  }();
  fine.write(frame("unaffected"));
  EXPECT_EQ(fine.read(), frame("unaffected"));
}

ServerOptions mutual() {
  auto o = tls_options();
  o.tls.client_ca_file = kCerts + "/ca.pem";
  return o;
}

// Records who each connection's client is, as on_open sees it.
struct Identity final : FrameHandler {
  std::vector<std::string>* seen;
  explicit Identity(std::vector<std::string>* s) : seen(s) {}
  void on_open(Connection& c) override {
    std::string who = c.peer_subject();
    for (const auto& n : c.peer_names()) who += " " + n;
    seen->push_back(who);
  }
  void on_frame(Connection& c, std::span<const std::byte> payload) override {
    c.send_frame(payload);
  }
};

TEST(TlsRules, MutualTlsAcceptsACertificateOfItsCaAndNamesItsClient) {
  std::vector<std::string> seen;
  Rig rig(mutual(), nullptr, {}, [&](Loop&) { return std::make_unique<Identity>(&seen); });
  const auto c = connect(rig);
  TlsPeer peer(rig, c, {.cert = "client"});
  ASSERT_TRUE(peer.loaded());
  ASSERT_TRUE(peer.handshake());
  peer.write(frame("mine"));
  EXPECT_EQ(peer.read(), frame("mine"));
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0], "CN=client one,O=framed tests DNS:client.example email:client@example.com");
}

TEST(TlsRules, WithoutMutualTlsNoClientIsNamed) {
  std::vector<std::string> seen;
  Rig rig(tls_options(), nullptr, {}, [&](Loop&) { return std::make_unique<Identity>(&seen); });
  const auto c = connect(rig);
  TlsPeer peer(rig, c, {.cert = "client"});
  ASSERT_TRUE(peer.handshake());
  peer.write(frame("anyone"));
  EXPECT_EQ(peer.read(), frame("anyone"));
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0], "");
}

class Refused : public ::testing::TestWithParam<std::string> {};

TEST_P(Refused, MutualTlsRefusesAndLogsOnce) {
  Rig rig(mutual());
  const auto c = connect(rig);
  TlsPeer peer(rig, c, {.cert = GetParam()});
  (void)peer.handshake();
  peer.write(frame("let me in"));
  (void)peer.read();
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  // The server said why, in an alert (unknown CA, certificate required...).
  EXPECT_NE(peer.reason_.find("alert"), std::string::npos) << peer.reason_;
  std::size_t lines = 0;
  for (const auto& line : rig.take_log()) {
    if (line.find("TLS handshake failed") != std::string::npos) ++lines;
  }
  EXPECT_EQ(lines, 1U);
  EXPECT_EQ(rig.worker().counters().frames_echoed.load(), 0U);
  // Counted as refused by TLS (framed_connections_refused_total{reason="tls"}).
  EXPECT_EQ(rig.worker().counters().refused_tls.load(), 1U);
  EXPECT_EQ(rig.worker().counters().refused.load(), 1U);
}

// A refused handshake fails with several OpenSSL errors at once; the worker
// takes the first as its reason and leaves none on the thread, where the
// next connection's SSL_get_error() would find it.
TEST_P(Refused, ARefusedClientLeavesNoErrorOnTheWorkersThread) {
  Rig rig(mutual());
  ERR_clear_error();
  const auto good = connect(rig);
  TlsPeer fine(rig, good, {.cert = "client"});
  ASSERT_TRUE(fine.handshake());
  const auto c = connect(rig);
  TlsPeer peer(rig, c, {.cert = GetParam()});
  (void)peer.handshake();
  peer.write(frame("let me in"));
  (void)peer.read();
  EXPECT_TRUE(rig.net().conn(c).server_closed);
  const unsigned long left = ERR_peek_error();
  EXPECT_EQ(left, 0UL) << ERR_reason_error_string(left);
  fine.write(frame("unaffected"));
  EXPECT_EQ(fine.read(), frame("unaffected"));
  EXPECT_FALSE(rig.net().conn(good).server_closed);
}

INSTANTIATE_TEST_SUITE_P(Clients, Refused, ::testing::Values("", "stranger", "expired"),
                         [](const auto& param_info) {
                           return param_info.param.empty() ? std::string("none") : param_info.param;
                         });

}  // namespace
}  // namespace framed::sim
