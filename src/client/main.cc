// framed-client: sends frames to a framed server and checks every echo.
//
//   framed-client [options] MESSAGE...       one frame per argument
//   framed-client [options] < lines          one frame per stdin line
//   framed-client [options] --count N --size S   generated frames, summary
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "client/echo_client.h"
#include "framed/version.h"
#include "util/cli.h"

namespace {

const char* const kUsage = R"(Usage: framed-client [options] [MESSAGE...]

Connects to a framed echo server, sends frames and verifies each echo byte
for byte. Frames come from the MESSAGE arguments (one frame each), from
--count/--size (generated), or else from standard input (one frame per line,
without the newline). Prints each reply, or with --count a summary.

options:
  --host ADDR       server address or name (default 127.0.0.1)
  --port N          server port (default 7777)
  --count N         send N generated frames
  --size BYTES      payload size of generated frames (default 64; KiB/MiB ok)
  --window N        frames in flight at most (default 16)
  --timeout DUR     give up after this long without progress (default 10s)
  --seed N          cut writes at random sizes from this seed (0: no cutting)
  --tls             connect with TLS; the server's certificate is verified
  --tls-ca FILE     PEM CA certificates to trust (default: the system's)
  --tls-cert FILE   PEM client certificate, for mutual TLS (with --tls-key)
  --tls-key FILE    its PEM private key
  --tls-servername N  the name to send (SNI) and verify (default: --host)
  -q, --quiet       print only the summary
  -h, --help        show this text
  --version         show the version

Exit status: 0 when every echo matched; 1 on a mismatch, early close or
error (with a message saying what happened); 2 on bad arguments.
)";

struct Args {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7777;
  std::size_t count = 0;
  bool generated = false;
  std::size_t size = 64;
  framed::client::EchoOptions echo;
  bool quiet = false;
  std::vector<std::string> messages;
};

double micros(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace

int main(int argc, char** argv) {
  Args a;
  using namespace framed::util;
  const CliOption options[] = {
      {"--host", "an address or host name", set_text(a.host)},
      {"--port", "a port from 1 to 65535", set_port(a.port)},
      {"--count", "a count up to 1000000000",
       [&](std::string_view v) {
         a.generated = true;
         return set_count(a.count, 1'000'000'000, true)(v);
       }},
      {"--size", "a size up to 4294967295 bytes, such as 64 or 1MiB",
       set_size(a.size, 0xFFFFFFFFU)},
      {"--window", "a count from 1 to 1000000", set_count(a.echo.window, 1'000'000)},
      {"--timeout", "a duration above 0, such as 10s", set_duration(a.echo.timeout, false)},
      {"--seed", "a number", set_u64(a.echo.split_seed, UINT64_MAX)},
      {"--quiet", "", set_flag(a.quiet), "-q"},
      {"--tls", "", set_flag(a.echo.tls.enabled)},
      {"--tls-ca", "a PEM file", set_text(a.echo.tls.ca_file)},
      {"--tls-cert", "a PEM file", set_text(a.echo.tls.cert_file)},
      {"--tls-key", "a PEM file", set_text(a.echo.tls.key_file)},
      {"--tls-servername", "a host name", set_text(a.echo.tls.server_name)},
  };
  std::string message;
  switch (parse_cli(argc, argv, options, &a.messages, message)) {
    case CliOutcome::help: std::fputs(kUsage, stdout); return 0;
    case CliOutcome::version: std::printf("framed-client %s\n", FRAMED_VERSION); return 0;
    case CliOutcome::error: return usage_error("framed-client", message);
    case CliOutcome::run: break;
  }

  const auto& t = a.echo.tls;
  if (!t.enabled && (!t.ca_file.empty() || !t.cert_file.empty() || !t.key_file.empty() ||
                     !t.server_name.empty())) {
    return usage_error("framed-client", "the --tls-* options need --tls");
  }
  if (t.cert_file.empty() != t.key_file.empty()) {
    return usage_error("framed-client", "--tls-cert and --tls-key go together");
  }
  if (t.enabled && !framed::Client::tls_supported()) {
    return usage_error("framed-client",
                       "TLS is not available: this framed-client was built without OpenSSL 3");
  }
  if (!a.generated && a.messages.empty()) {
    for (std::string line; std::getline(std::cin, line);) a.messages.push_back(line);
  }
  const std::size_t count = a.generated ? a.count : a.messages.size();
  framed::client::FrameSource source = [&](std::size_t index, std::vector<std::byte>& out) {
    if (a.generated) {
      // A pattern that differs per frame, so misordered echoes are caught.
      out.resize(a.size);
      for (std::size_t k = 0; k < a.size; ++k) {
        out[k] = static_cast<std::byte>((index * 131 + k * 7) & 0xFFU);
      }
    } else {
      const std::string& m = a.messages[index];
      out.resize(m.size());
      std::transform(m.begin(), m.end(), out.begin(),
                     [](char c) { return static_cast<std::byte>(c); });
    }
  };

  std::vector<std::chrono::nanoseconds> rtts;
  rtts.reserve(std::min<std::size_t>(count, 1'000'000));
  const bool print_each = !a.generated && !a.quiet;
  auto on_echo = [&](std::size_t index, std::span<const std::byte> payload,
                     std::chrono::nanoseconds rtt) {
    if (rtts.size() < rtts.capacity()) rtts.push_back(rtt);
    if (print_each) {
      std::string text(payload.size(), '\0');
      std::transform(payload.begin(), payload.end(), text.begin(),
                     [](std::byte b) { return static_cast<char>(b); });
      std::printf("reply %zu (%zu bytes, %.0f us): %s\n", index + 1, payload.size(), micros(rtt),
                  text.c_str());
    }
  };

  const auto started = std::chrono::steady_clock::now();
  const auto result = framed::client::run_echo(a.host, a.port, count, source, a.echo, on_echo);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::sort(rtts.begin(), rtts.end());
  auto pct = [&](double q) {
    if (rtts.empty()) return 0.0;
    const auto i = static_cast<std::size_t>(q * static_cast<double>(rtts.size() - 1));
    return micros(rtts[i]);
  };
  std::printf("%zu/%zu frames echoed and verified, %llu payload bytes, %.3f s",
              result.frames_verified, count, static_cast<unsigned long long>(result.bytes_verified),
              secs);
  if (!rtts.empty()) {
    std::printf("; rtt us min %.0f p50 %.0f p99 %.0f max %.0f", micros(rtts.front()), pct(0.5),
                pct(0.99), micros(rtts.back()));
  }
  std::printf("\n");
  if (!result.error.empty()) {
    std::fprintf(stderr, "framed-client: %s\n", result.error.c_str());
    return 1;
  }
  return 0;
}
