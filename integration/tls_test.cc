// TLS against the real framed-server binary (issue 21): framed-client and
// framed::Client on every backend, mutual TLS, hostile clients (plain text,
// a storm of handshakes that never finish), the command line's errors, and
// interop with the TLS stacks people use: openssl s_client, Python's ssl,
// Node's tls and HAProxy as a TLS client. A peer that is not installed is
// skipped with the reason (scripts/setup.sh installs them).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "backends.h"
#include "client/echo_client.h"
#include "daemon.h"
#include "net/fd.h"
#include "server_process.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

const std::string kCerts = FRAMED_TLS_CERTS;
const std::string kPeers = FRAMED_TLS_PEERS;

std::vector<std::string> tls_args(bool mutual = false) {
  std::vector<std::string> a = {
      "--port", "0", "--tls-cert", kCerts + "/server.pem", "--tls-key", kCerts + "/server.key"};
  if (mutual) {
    a.push_back("--tls-client-ca");
    a.push_back(kCerts + "/ca.pem");
  }
  return a;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

ClientTlsOptions client_tls(const std::string& cert = "") {
  ClientTlsOptions t;
  t.enabled = true;
  t.ca_file = kCerts + "/ca.pem";
  if (!cert.empty()) {
    t.cert_file = kCerts + "/" + cert + ".pem";
    t.key_file = kCerts + "/" + cert + ".key";
  }
  return t;
}

client::EchoResult echo(std::uint16_t port, std::size_t count, std::size_t size,
                        const ClientTlsOptions& tls, std::size_t window = 16) {
  client::EchoOptions o;
  o.window = window;
  o.timeout = 10s;
  o.tls = tls;
  return client::run_echo(
      "127.0.0.1", port, count,
      [size](std::size_t i, std::vector<std::byte>& out) {
        out.resize(size);
        for (std::size_t k = 0; k < size; ++k) out[k] = static_cast<std::byte>((i * 31 + k) & 0xFF);
      },
      o);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class Tls : public BackendTest {
 protected:
  void start(const std::vector<std::string>& extra = {}, bool mutual = false) {
    SpawnOptions o;
    o.args = GetParam().args + tls_args(mutual) + extra;
    o.fd_limit = 8192;
    std::string error;
    ASSERT_TRUE(server_.start(FRAMED_SERVER_PATH, o, error)) << error;
  }
  ServerProcess server_;
};

TEST_P(Tls, EchoesSmallPipelinedAndLargeFramesToFramedClient) {
  start();
  auto r = echo(server_.port(), 2000, 3000, client_tls(), 64);
  EXPECT_EQ(r.error, "") << server_.stderr_text();
  EXPECT_EQ(r.frames_verified, 2000U);
  r = echo(server_.port(), 12, 1U << 20U, client_tls(), 4);
  EXPECT_EQ(r.error, "") << server_.stderr_text();
  EXPECT_EQ(r.frames_verified, 12U);
  // framed-client itself, as the README shows it.
  std::string out;
  std::string err;
  const auto st = run_to_exit(
      FRAMED_CLIENT_PATH,
      {"--port", std::to_string(server_.port()), "--tls", "--tls-ca", kCerts + "/ca.pem", "hello"},
      out, err);
  EXPECT_TRUE(st.exited && st.code == 0) << err;
  EXPECT_NE(out.find("reply 1 (5 bytes"), std::string::npos) << out;
}

TEST_P(Tls, MutualTlsServesItsCaAndRefusesEveryOtherClientLoggingEachOnce) {
  start({}, true);
  EXPECT_EQ(echo(server_.port(), 10, 100, client_tls("client")).frames_verified, 10U)
      << server_.stderr_text();
  for (const std::string who : {"", "stranger", "expired"}) {
    const auto r = echo(server_.port(), 1, 10, client_tls(who));
    EXPECT_EQ(r.frames_verified, 0U) << who;
    EXPECT_NE(r.error, "") << who;
  }
  ASSERT_TRUE(server_.wait_for_log("certificate", 5s)) << server_.stderr_text();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(count_of(server_.stderr_text(), "TLS handshake failed"), 3U) << server_.stderr_text();
}

TEST_P(Tls, APlainTextClientIsClosedAndLoggedAndOthersAreServed) {
  start();
  client::EchoOptions plain;
  plain.timeout = 5s;
  const auto r = client::run_echo(
      "127.0.0.1", server_.port(), 1,
      [](std::size_t, std::vector<std::byte>& out) { out.resize(8); }, plain);
  EXPECT_EQ(r.frames_verified, 0U);
  EXPECT_TRUE(server_.wait_for_log("TLS handshake failed", 5s)) << server_.stderr_text();
  EXPECT_EQ(echo(server_.port(), 5, 50, client_tls()).frames_verified, 5U);
}

TEST_P(Tls, AStormOfHandshakesThatNeverFinishBlocksNoOneAndEndsAtTheTimeout) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 4096 && lim.rlim_max >= 4096) {
    lim.rlim_cur = 4096;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < 4096) GTEST_SKIP() << "this process may open too few descriptors";
  start({"--max-conns", "4000", "--tls-handshake-timeout", "1s"});
  // 2,000 connections that send the start of a ClientHello and stop.
  const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03};
  std::vector<net::UniqueFd> storm;
  for (int i = 0; i < 2000; ++i) {
    net::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << i;
    ASSERT_EQ(::send(fd.get(), partial, sizeof partial, MSG_NOSIGNAL),
              static_cast<ssize_t>(sizeof partial));
    storm.push_back(std::move(fd));
  }
  // Meanwhile a real client is served at once.
  const auto r = echo(server_.port(), 200, 1000, client_tls(), 16);
  EXPECT_EQ(r.frames_verified, 200U) << r.error;
  // And every stalled handshake ends at its timeout.
  ASSERT_TRUE(server_.wait_for_log("TLS handshake timeout", 10s));
  for (int i = 0; i < 100 && count_of(server_.stderr_text(), "TLS handshake timeout") < 2000; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(count_of(server_.stderr_text(), "TLS handshake timeout"), 2000U);
  std::fprintf(stderr, "server RSS with the storm ended: %ld KiB\n", server_.rss_kib());
}

INSTANTIATE_TEST_SUITE_P(Backends, Tls, ::testing::ValuesIn(backend_cases()), backend_case_name);

// The whole conformance suite over TLS (framed-conform --tls), the
// recommended cases included, once per transport.
class ConformOverTls : public BackendTest {};

TEST_P(ConformOverTls, PassesEveryCase) {
  ServerProcess server;
  SpawnOptions o;
  o.args = GetParam().args + tls_args() + std::vector<std::string>{"--idle-timeout",  "2s",
                                                                   "--frame-timeout", "3s",
                                                                   "--max-conns",     "16"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  std::string out;
  std::string err;
  const auto st =
      run_to_exit(FRAMED_CONFORM_PATH,
                  {"--port", std::to_string(server.port()), "--seed", "42", "--tls", "--tls-ca",
                   kCerts + "/ca.pem", "--timeout", "10s", "--strict", "--idle-timeout", "2s",
                   "--frame-timeout", "3s", "--max-conns", "16"},
                  out, err, 200s);
  EXPECT_TRUE(st.exited && st.code == 0) << out << err << "\nserver log:\n" << server.stderr_text();
  EXPECT_NE(out.find(", TLS\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" passed, 0 failed\n"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Transports, ConformOverTls, ::testing::ValuesIn(transport_cases()),
                         backend_case_name);

#ifdef FRAMED_BENCH_PATH
// The load generator over TLS (framed-bench --tls): every echo verified.
TEST(TlsBench, TheLoadGeneratorSpeaksTls) {
  ServerProcess server;
  SpawnOptions o;
  o.args = tls_args();
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  std::string out;
  std::string err;
  const auto st = run_to_exit(
      FRAMED_BENCH_PATH,
      {"--port", std::to_string(server.port()), "--tls", "--tls-ca", kCerts + "/ca.pem",
       "--connections", "8", "--depth", "8", "--size", "3000", "--frames", "4000", "--no-progress"},
      out, err, 60s);
  EXPECT_TRUE(st.exited && st.code == 0) << out << err;
  EXPECT_NE(out.find("errors       0 (corrupt 0)"), std::string::npos) << out << err;
  // Without --port it cannot start a TLS server itself, and says so.
  const auto refused = run_to_exit(FRAMED_BENCH_PATH, {"--tls"}, out, err, 10s);
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(err.find("--tls needs --port"), std::string::npos) << err;
}

// framed-bench --handshakes: a new connection per handshake, each with one
// frame echoed; "resumed" offers the previous session ticket, and the
// server takes it (the run fails when fewer than 9 in 10 resume).
TEST(TlsBench, TheLoadGeneratorMeasuresFullAndResumedHandshakes) {
  ServerProcess server;
  SpawnOptions o;
  o.args = tls_args();
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  for (const std::string kind : {"full", "resumed"}) {
    std::string out;
    std::string err;
    const auto st =
        run_to_exit(FRAMED_BENCH_PATH,
                    {"--port", std::to_string(server.port()), "--server-pid",
                     std::to_string(server.pid()), "--tls", "--tls-ca", kCerts + "/ca.pem",
                     "--handshakes", kind, "--frames", "20", "--no-progress"},
                    out, err, 60s);
    EXPECT_TRUE(st.exited && st.code == 0) << kind << "\n" << out << err;
    const std::string resumed =
        kind == "full" ? "(20 handshakes, 0 resumed)" : "(20 handshakes, 20 resumed)";
    EXPECT_NE(out.find(resumed), std::string::npos) << out << err;
    EXPECT_NE(out.find("us/handshake"), std::string::npos) << out;
  }
  std::string out;
  std::string err;
  const auto refused = run_to_exit(FRAMED_BENCH_PATH, {"--handshakes", "full"}, out, err, 10s);
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(err.find("--handshakes needs --tls"), std::string::npos) << err;
}
#endif

// --- The command line.

struct Refusal {
  std::vector<std::string> args;
  int code;
  std::string message;
};

TEST(TlsCommandLine, BadTlsOptionsExitWithTheReason) {
  const std::string c = kCerts + "/";
  const std::vector<Refusal> cases = {
      {{"--tls-key", c + "server.key"}, 2, "the --tls-* options need --tls-cert"},
      {{"--tls-cert", c + "server.pem"}, 2, "--tls-cert needs --tls-key"},
      {{"--tls-cert", c + "server.pem", "--tls-key", c + "server.key", "--tls-min-version", "1.1"},
       2,
       "invalid value '1.1' for --tls-min-version"},
      {{"--tls-cert", c + "missing.pem", "--tls-key", c + "server.key"},
       1,
       "--tls-cert " + c + "missing.pem: No such file or directory"},
      {{"--tls-cert", c + "server.pem", "--tls-key", c + "client.key"},
       1,
       "--tls-key " + c + "client.key does not match --tls-cert " + c + "server.pem"},
      {{"--tls-cert", c + "server.key", "--tls-key", c + "server.key"}, 1, "--tls-cert " + c},
      {{"--tls-cert", c + "server.pem", "--tls-key", c + "server.key", "--tls-ciphers", "NOPE"},
       1,
       "--tls-ciphers 'NOPE'"},
  };
  for (const auto& k : cases) {
    std::string out;
    std::string err;
    const auto st = run_to_exit(FRAMED_SERVER_PATH,
                                std::vector<std::string>{"--port", "0"} + k.args, out, err, 10s);
    EXPECT_TRUE(st.exited) << k.message;
    EXPECT_EQ(st.code, k.code) << k.message << "\n" << err;
    EXPECT_NE(err.find(k.message), std::string::npos)
        << "wanted: " << k.message << "\ngot: " << err;
  }
}

TEST(TlsCommandLine, SighupReloadsTheCertificateAndABadFileKeepsTheOldOne) {
  const std::string dir = ::testing::TempDir() + "framed-sighup-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const auto use = [&](const std::string& name) {
    for (const char* ext : {".pem", ".key"}) {
      std::filesystem::copy_file(kCerts + "/" + name + ext, dir + "/server" + ext,
                                 std::filesystem::copy_options::overwrite_existing);
    }
  };
  use("server");
  ServerProcess server;
  SpawnOptions o;
  o.args = {"--port", "0", "--tls-cert", dir + "/server.pem", "--tls-key", dir + "/server.key"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  EXPECT_EQ(echo(server.port(), 3, 10, client_tls()).frames_verified, 3U);
  use("server2");
  server.send_signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("SIGHUP: TLS certificate and key reloaded", 5s))
      << server.stderr_text();
  auto other = client_tls();
  other.ca_file = kCerts + "/other-ca.pem";
  EXPECT_EQ(echo(server.port(), 3, 10, other).frames_verified, 3U) << server.stderr_text();
  { std::ofstream(dir + "/server.pem") << "garbage\n"; }
  server.send_signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("SIGHUP: TLS reload failed, the certificate in use stays", 5s))
      << server.stderr_text();
  EXPECT_EQ(echo(server.port(), 3, 10, other).frames_verified, 3U) << server.stderr_text();
  std::filesystem::remove_all(dir);
}

TEST(TlsCommandLine, SighupWithoutTlsIsLoggedAndTheServerGoesOn) {
  ServerProcess server;
  SpawnOptions o;
  o.args = {"--port", "0"};
  std::string error;
  ASSERT_TRUE(server.start(FRAMED_SERVER_PATH, o, error)) << error;
  server.send_signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("SIGHUP: no TLS certificate to reload", 5s))
      << server.stderr_text();
  EXPECT_EQ(echo(server.port(), 3, 10, ClientTlsOptions{}).frames_verified, 3U);
}

// --- Interop: other TLS stacks as clients of framed-server.

class Interop : public ::testing::Test {
 protected:
  void start(bool mutual = false) {
    SpawnOptions o;
    o.args = tls_args(mutual) + std::vector<std::string>{"--idle-timeout", "2s"};
    std::string error;
    ASSERT_TRUE(server_.start(FRAMED_SERVER_PATH, o, error)) << error;
  }
  ServerProcess server_;
};

TEST_F(Interop, OpensslSClientEchoesOverTls12AndTls13AndGetsCloseNotify) {
  const std::string openssl = find_program("openssl");
  if (openssl.empty()) GTEST_SKIP() << "openssl is not installed";
  start();
  const std::string frame("\0\0\0\5hello", 9);
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    std::string out;
    std::string err;
    // -ign_eof: reads on after its input ends, until the server's idle
    // timeout closes the session with close_notify.
    const auto st =
        run_to_exit(openssl,
                    {"s_client", "-connect", "127.0.0.1:" + std::to_string(server_.port()), version,
                     "-CAfile", kCerts + "/ca.pem", "-verify_return_error", "-verify_hostname",
                     "localhost", "-quiet", "-ign_eof"},
                    out, err, 20s, frame);
    EXPECT_TRUE(st.exited && st.code == 0) << version << ": " << err;
    EXPECT_EQ(out, frame) << version << ": " << err;
  }
}

TEST_F(Interop, OpensslSClientWithAClientCertificateUnderMutualTls) {
  const std::string openssl = find_program("openssl");
  if (openssl.empty()) GTEST_SKIP() << "openssl is not installed";
  start(true);
  const std::string frame("\0\0\0\4mine", 8);
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    std::string out;
    std::string err;
    const auto st =
        run_to_exit(openssl,
                    {"s_client", "-connect", "127.0.0.1:" + std::to_string(server_.port()), version,
                     "-CAfile", kCerts + "/ca.pem", "-verify_return_error", "-cert",
                     kCerts + "/client.pem", "-key", kCerts + "/client.key", "-quiet", "-ign_eof"},
                    out, err, 20s, frame);
    EXPECT_TRUE(st.exited && st.code == 0) << version << ": " << err;
    EXPECT_EQ(out, frame) << version << ": " << err;
  }
}

TEST_F(Interop, PythonSslEchoesOverTls12AndTls13WithAndWithoutClientCertificates) {
  const std::string python = find_program("python3");
  if (python.empty()) GTEST_SKIP() << "python3 is not installed";
  start(true);
  const std::string port = std::to_string(server_.port());
  for (const char* version : {"1.2", "1.3"}) {
    std::string out;
    std::string err;
    auto st = run_to_exit(python,
                          {kPeers + "/peer.py", "--port", port, "--ca", kCerts + "/ca.pem",
                           "--cert", kCerts + "/client.pem", "--key", kCerts + "/client.key",
                           "--version", version, "--frames", "200", "--size", "3000"},
                          out, err, 30s);
    EXPECT_TRUE(st.exited && st.code == 0) << version << ": " << err;
    EXPECT_NE(out.find(std::string("ok TLSv") + version), std::string::npos) << out << err;
    // No certificate: refused.
    st = run_to_exit(python,
                     {kPeers + "/peer.py", "--port", port, "--ca", kCerts + "/ca.pem", "--version",
                      version, "--frames", "1"},
                     out, err, 30s);
    EXPECT_TRUE(st.exited && st.code == 3) << version << ": " << out << err;
  }
}

TEST_F(Interop, NodeTlsEchoesOverTls12AndTls13WithAClientCertificate) {
  const std::string node = find_program("node");
  if (node.empty()) GTEST_SKIP() << "node is not installed";
  start(true);
  for (const char* version : {"1.2", "1.3"}) {
    std::string out;
    std::string err;
    const auto st =
        run_to_exit(node,
                    {kPeers + "/peer.js", std::to_string(server_.port()), kCerts + "/ca.pem",
                     version, "200", "3000", kCerts + "/client.pem", kCerts + "/client.key"},
                    out, err, 30s);
    EXPECT_TRUE(st.exited && st.code == 0) << version << ": " << out << err;
    EXPECT_NE(out.find(std::string("ok TLSv") + version), std::string::npos) << out << err;
  }
}

TEST_F(Interop, HaproxyVerifiesAndReEncryptsToFramedServer) {
  const std::string haproxy = find_program("haproxy");
  if (haproxy.empty()) GTEST_SKIP() << "haproxy is not installed";
  start(true);
  // HAProxy wants the client certificate and its key in one file.
  const std::string dir = ::testing::TempDir();
  const std::string combined = dir + "framed-tls-client-combined.pem";
  {
    std::ofstream out(combined);
    for (const char* f : {"/client.pem", "/client.key"}) out << std::ifstream(kCerts + f).rdbuf();
  }
  for (const char* version : {"TLSv1.2", "TLSv1.3"}) {
    const std::uint16_t front = free_port();
    const std::string cfg = dir + "framed-tls-haproxy.cfg";
    std::ofstream(cfg) << "global\n    maxconn 100\n"
                       << "defaults\n    mode tcp\n    timeout connect 2s\n"
                       << "    timeout client 30s\n    timeout server 30s\n"
                       << "frontend plain\n    bind 127.0.0.1:" << front
                       << "\n    default_backend tls\n"
                       << "backend tls\n    server s1 127.0.0.1:" << server_.port()
                       << " ssl verify required ca-file " << kCerts
                       << "/ca.pem verifyhost localhost"
                       << " sni str(localhost) crt " << combined << " ssl-min-ver " << version
                       << " ssl-max-ver " << version << "\n";
    Daemon proxy;
    std::string error;
    ASSERT_TRUE(proxy.start(haproxy, {"-f", cfg, "-db"}, cfg + ".log", error)) << error;
    client::EchoResult r;
    for (int i = 0; i < 50; ++i) {
      ClientTlsOptions none;
      r = echo(front, 100, 2000, none);
      if (r.frames_verified == 100U || !proxy.alive()) break;
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(r.frames_verified, 100U) << version << ": " << r.error << "\n"
                                       << proxy.output() << server_.stderr_text();
  }
}

TEST_F(Interop, HaproxyPassesTlsThroughAfterAProxyHeaderAndTheServerNamesTheClient) {
  const std::string haproxy = find_program("haproxy");
  if (haproxy.empty()) GTEST_SKIP() << "haproxy is not installed";
  SpawnOptions o;
  o.args = tls_args() + std::vector<std::string>{"--proxy-protocol", "--log-level", "debug"};
  std::string error;
  ASSERT_TRUE(server_.start(FRAMED_SERVER_PATH, o, error)) << error;
  const std::string dir = ::testing::TempDir();
  const std::uint16_t front = free_port();
  const std::string cfg = dir + "framed-tls-passthrough.cfg";
  std::ofstream(cfg) << "global\n    maxconn 100\n"
                     << "defaults\n    mode tcp\n    timeout connect 2s\n"
                     << "    timeout client 30s\n    timeout server 30s\n"
                     << "frontend tls_in\n    bind 127.0.0.1:" << front
                     << "\n    default_backend framed\n"
                     << "backend framed\n    source 127.0.0.5\n    server s1 127.0.0.1:"
                     << server_.port() << " send-proxy-v2\n";
  Daemon proxy;
  ASSERT_TRUE(proxy.start(haproxy, {"-f", cfg, "-db"}, cfg + ".log", error)) << error;
  client::EchoResult r;
  for (int i = 0; i < 50; ++i) {
    r = echo(front, 100, 2000, client_tls());
    if (r.frames_verified == 100U || !proxy.alive()) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(r.frames_verified, 100U) << r.error << "\n" << proxy.output() << server_.stderr_text();
  // The server names the client from the header, not HAProxy's address.
  EXPECT_TRUE(server_.wait_for_log("via proxy 127.0.0.5:", 5s)) << server_.stderr_text();
  EXPECT_TRUE(server_.wait_for_log("TLS handshake done", 5s)) << server_.stderr_text();
}

}  // namespace
}  // namespace framed::test
