// stress: forks client processes that each send frames of random sizes, with
// writes cut at random points, to an echo server and verify every byte.
//
//   stress [--clients 50] [--frames 100] [--seed 42] [--max-size 64KiB]
//          [--window 8] [--timeout 30s] [--host H --port P | --server PATH]
//
// Without --port it starts framed-server itself on port 0 and stops it with
// SIGINT at the end. Prints one summary line; exits 1 on any loss,
// corruption or error, 2 on bad arguments.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/echo_client.h"
#include "framed/version.h"
#include "server_process.h"
#include "util/cli.h"
#include "util/parse.h"

namespace {

const char* const kUsage = R"(usage: stress [options]

Forks client processes; each sends frames of random sizes (writes cut at
random points) to an echo server and verifies every echoed byte.

options:
  --clients N      client processes (default 50)
  --frames N       frames per client (default 100)
  --seed N         random seed (default 42)
  --max-size BYTES largest payload (default 64KiB); most frames are small
  --window N       frames in flight per client (default 8)
  --timeout DUR    a client gives up after this long without progress (30s)
  --host ADDR      server address (default 127.0.0.1)
  --port N         target a running server; without it, start one
  --server PATH    framed-server to start (default: the one built with this)
  --server-arg ARG pass ARG to the server it starts (repeatable), e.g.
                   --server-arg --backend --server-arg poll
)";

struct ChildReport {
  std::uint64_t verified = 0;
  std::uint64_t corrupt = 0;
  std::uint64_t error = 0;
};

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

// --max-size: a byte count up to 4 GiB - 1, into a 64-bit variable.
std::function<bool(std::string_view)> set_u64_size(std::uint64_t& out) {
  return [&out](std::string_view v) {
    const auto n = framed::util::parse_size(v, 0xFFFFFFFFU);
    if (n) out = *n;
    return n.has_value();
  };
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t clients = 50;
  std::size_t frames = 100;
  std::uint64_t seed = 42;
  std::uint64_t max_size = 64U << 10U;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string server_path = FRAMED_SERVER_PATH;
  std::vector<std::string> server_args;
  framed::client::EchoOptions echo;
  echo.window = 8;
  echo.timeout = std::chrono::seconds(30);

  using namespace framed::util;
  const CliOption options[] = {
      {"--clients", "a count from 1 to 10000", set_count(clients, 10'000)},
      {"--frames", "a count from 1 to 10000000", set_count(frames, 10'000'000)},
      {"--window", "a count from 1 to 100000", set_count(echo.window, 100'000)},
      {"--seed", "a number", set_u64(seed, UINT64_MAX)},
      {"--max-size", "a size up to 4294967295 bytes", set_u64_size(max_size)},
      {"--timeout", "a duration above 0, such as 30s", set_duration(echo.timeout, false)},
      {"--host", "an address or host name", set_text(host)},
      {"--port", "a port from 1 to 65535", set_port(port)},
      {"--server", "a path to a server binary", set_text(server_path)},
      {"--server-arg", "an argument for the started server", append_to(server_args)},
  };
  std::string message;
  switch (parse_cli(argc, argv, options, nullptr, message)) {
    case CliOutcome::help: std::fputs(kUsage, stdout); return 0;
    case CliOutcome::version: std::printf("stress %s\n", FRAMED_VERSION); return 0;
    case CliOutcome::error: return usage_error("stress", message);
    case CliOutcome::run: break;
  }

  framed::test::ServerProcess server;
  if (port == 0) {
    std::string error;
    framed::test::SpawnOptions spawn;
    spawn.args = {"--host", host, "--port", "0", "--log-level", "warn"};
    spawn.args.insert(spawn.args.end(), server_args.begin(), server_args.end());
    if (!server.start(server_path, spawn, error)) {
      // A backend this kernel or sandbox refuses (the server exits 1 naming
      // the reason) is a skip, with the reason, not a pass or a failure.
      if (error.find("is unavailable here") != std::string::npos) {
        std::fprintf(stderr, "stress: skipped: %s\n", error.c_str());
        return 77;
      }
      std::fprintf(stderr, "stress: cannot start %s: %s\n", server_path.c_str(), error.c_str());
      return 1;
    }
    port = server.port();
  }

  const auto started = std::chrono::steady_clock::now();
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  for (std::size_t c = 0; c < clients; ++c) {
    int fds[2];
    if (::pipe(fds) != 0) {
      std::perror("stress: pipe");
      return 1;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("stress: fork");
      return 1;
    }
    if (pid == 0) {
      ::close(fds[0]);
      const std::uint64_t client_seed = mix(seed ^ mix(c + 1));
      auto source = [&](std::size_t index, std::vector<std::byte>& out) {
        std::uint64_t h = mix(client_seed ^ mix(index));
        const std::uint64_t pick = h % 100;
        std::uint64_t limit = pick < 70 ? 256 : pick < 95 ? 4096 : max_size;
        limit = std::min<std::uint64_t>(limit, max_size);
        const auto size = static_cast<std::size_t>(mix(h) % (limit + 1));
        out.resize(size);
        for (std::size_t k = 0; k < size; ++k) {
          if (k % 8 == 0) h = mix(h);
          out[k] = static_cast<std::byte>(h >> (8 * (k % 8)));
        }
      };
      framed::client::EchoOptions opts = echo;
      opts.split_seed = client_seed | 1U;
      const auto r = framed::client::run_echo(host, port, frames, source, opts);
      ChildReport report{r.frames_verified, r.corrupt ? 1U : 0U, r.error.empty() ? 0U : 1U};
      // The report, then the error text: the parent folds identical errors
      // of many clients into one line.
      [[maybe_unused]] const auto n = ::write(fds[1], &report, sizeof report);
      if (!r.error.empty()) {
        [[maybe_unused]] const auto m = ::write(fds[1], r.error.data(), r.error.size());
      }
      ::_exit(r.error.empty() ? 0 : 1);
    }
    ::close(fds[1]);
    children.push_back({pid, fds[0]});
  }

  ChildReport total;
  std::vector<std::string> errors;
  for (const Child& child : children) {
    ChildReport report;
    ssize_t n = 0;
    do {
      n = ::read(child.fd, &report, sizeof report);
    } while (n < 0 && errno == EINTR);
    std::string text;
    char buf[512];
    for (ssize_t m = 0; (m = ::read(child.fd, buf, sizeof buf)) != 0;) {
      if (m < 0 && errno == EINTR) continue;
      if (m < 0) break;
      text.append(buf, static_cast<std::size_t>(m));
    }
    if (!text.empty()) errors.push_back(text);
    ::close(child.fd);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    if (n != static_cast<ssize_t>(sizeof report)) {
      report = {};
      report.error = 1;
      errors.emplace_back("client process died without reporting");
    }
    total.verified += report.verified;
    total.corrupt += report.corrupt;
    total.error += report.error;
  }
  for (const auto& line : framed::util::fold_errors(errors, "clients")) {
    std::fprintf(stderr, "stress: %s\n", line.c_str());
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::uint64_t expected = static_cast<std::uint64_t>(clients) * frames;
  const std::uint64_t lost = expected - total.verified - total.corrupt;
  std::printf(
      "%zu clients x %zu frames: %llu/%llu echoed, %llu lost, %llu corrupt, %llu errors "
      "(seed %llu, %.2f s)\n",
      clients, frames, static_cast<unsigned long long>(total.verified),
      static_cast<unsigned long long>(expected), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(total.corrupt), static_cast<unsigned long long>(total.error),
      static_cast<unsigned long long>(seed), secs);
  std::fflush(stdout);

  bool server_ok = true;
  if (server.pid() > 0) {
    server.send_signal(SIGINT);
    const auto status = server.wait_exit(std::chrono::seconds(30));
    server_ok = status && status->exited && status->code == 0;
    if (!server_ok) {
      std::fprintf(stderr, "stress: framed-server did not exit 0 after SIGINT; its log:\n%s",
                   server.stderr_text().c_str());
    }
  }
  return (lost == 0 && total.corrupt == 0 && total.error == 0 && server_ok) ? 0 : 1;
}
