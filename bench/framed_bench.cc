// framed-bench: drives an echo server with framed traffic and reports
// throughput, round-trip latency, server CPU per frame and errors.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "framed/version.h"
#include "handshakes.h"
#include "load.h"
#include "server_process.h"
#include "util/cli.h"
#include "util/parse.h"

namespace {

const char* const kUsage = R"(Usage: framed-bench [options]

Drives a server speaking the frame protocol (or any byte echo server) with
pipelined frames on many connections, verifies every echoed byte, and
reports frames/s, MiB/s, round-trip latency percentiles, server CPU per frame
(when it started the server) and errors.

options:
  --host ADDR         server address (default 127.0.0.1)
  --port N            target a running server; without it, start one on port 0
  --server PATH       server binary to start (default: the framed-server
                      installed beside this tool, else the one built with it);
                      it must print "listening on HOST:PORT"
  --server-arg ARG    extra argument for the started server (repeatable)
  --server-pid PID    with --port: measure this process's CPU and memory as
                      the server's (a peer started by a script); repeat it for
                      a server made of several processes (a proxy in front of
                      framed-server, nginx's workers): their figures are added
  --connections N     connections (default 1)
  --threads N         load generator threads, each driving its share of the
                      connections (default 1)
  --size BYTES        payload size per frame (default 64; KiB/MiB ok)
  --depth N           frames in flight per connection (default 1)
  --duration DUR      measured time (default 5s)
  --warmup DUR        time before measuring (default 1s)
  --frames N          stop after N verified frames instead (no warm-up)
  --seed N            payload seed (default 1)
  --calibrate         also measure raw loopback TCP throughput (one direction),
                      before and after the run (the higher counts), and report
                      this run as a fraction of it
  --calibrate-only    measure the loopback ceiling and nothing else
  --label NAME        scenario name for the report
  --json              print one JSON object instead of text
  --tls               connect with TLS (handshakes before the window; the
                      server's certificate is verified); with --port only
  --tls-ca FILE       PEM CA certificates to trust (default: the system's)
  --tls-servername N  the name to send and verify (default: the address)
  --handshakes KIND   with --tls: measure handshakes, not frames: new
                      connections one after another on each thread (TCP
                      connect, handshake, one 1-byte frame echoed, close);
                      KIND is full, or resumed (each offers the previous
                      connection's session ticket); --connections is unused
  --no-progress       no progress line, even on a terminal
  -h, --help          show this text
  --version           print the version and exit

Exit status: 0 on success, 1 on any error or corrupted echo, 2 on bad usage.
)";

double to_us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out.push_back(c);
  }
  return out;
}

// The installed framed-bench starts the framed-server installed beside it
// (/usr/bin); in the build tree the two live in different directories, so
// the path compiled in is the fallback.
std::string default_server_path() {
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string path(self, static_cast<std::size_t>(n));
    path.erase(path.rfind('/') + 1);
    path += "framed-server";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return FRAMED_SERVER_PATH;
}

}  // namespace

int main(int argc, char** argv) {
  framed::bench::LoadOptions o;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string server_path = default_server_path();
  std::vector<std::string> server_args;
  std::vector<pid_t> server_pids;
  std::string handshakes;
  bool calibrate = false;
  bool calibrate_only = false;
  bool json = false;
  bool progress = isatty(STDERR_FILENO) != 0;
  std::string label;

  using namespace framed::util;
  std::uint64_t pid_value = 0;
  const CliOption options[] = {
      {"--host", "an address or host name", set_text(host)},
      {"--port", "a port from 1 to 65535", set_port(port)},
      {"--server", "a path to a server binary", set_text(server_path)},
      {"--server-arg", "an argument for the started server", append_to(server_args)},
      {"--server-pid", "a process id",
       [&](std::string_view v) {
         if (!set_u64(pid_value, 4'194'304)(v) || pid_value == 0) return false;
         server_pids.push_back(static_cast<pid_t>(pid_value));
         return true;
       }},
      {"--connections", "a count from 1 to 1000000", set_count(o.connections, 1'000'000)},
      {"--threads", "a count from 1 to 1024", set_count(o.threads, 1024)},
      {"--depth", "a count from 1 to 1000000", set_count(o.depth, 1'000'000)},
      {"--size", "a size up to 4294967295 bytes, such as 64 or 64KiB",
       set_size(o.frame_size, 0xFFFFFFFFU)},
      {"--duration", "a duration such as 5s", set_duration(o.duration)},
      {"--warmup", "a duration such as 1s", set_duration(o.warmup)},
      {"--frames", "a count above 0",
       [&](std::string_view v) { return set_u64(o.frames, UINT64_MAX)(v) && o.frames > 0; }},
      {"--seed", "a number", set_u64(o.seed, UINT64_MAX)},
      {"--label", "a scenario name", set_text(label)},
      {"--calibrate", "", set_flag(calibrate)},
      {"--calibrate-only", "",
       [&](std::string_view) {
         calibrate = calibrate_only = true;
         return true;
       }},
      {"--json", "", set_flag(json)},
      {"--tls", "", set_flag(o.tls.enabled)},
      {"--tls-ca", "a PEM file", set_text(o.tls.ca_file)},
      {"--tls-servername", "a host name", set_text(o.tls.server_name)},
      {"--handshakes", "full or resumed",
       [&](std::string_view v) {
         handshakes = v;
         return v == "full" || v == "resumed";
       }},
      {"--no-progress", "",
       [&](std::string_view) {
         progress = false;
         return true;
       }},
  };
  std::string message;
  switch (parse_cli(argc, argv, options, nullptr, message)) {
    case CliOutcome::help: std::fputs(kUsage, stdout); return 0;
    case CliOutcome::version: std::printf("framed-bench %s\n", FRAMED_VERSION); return 0;
    case CliOutcome::error: return usage_error("framed-bench", message);
    case CliOutcome::run: break;
  }
  if (!handshakes.empty() && !o.tls.enabled) {
    return usage_error("framed-bench", "--handshakes needs --tls");
  }
  const bool handshake_mode = !handshakes.empty();
  const char* const unit = handshake_mode ? "handshake" : "frame";
  if ((!o.tls.ca_file.empty() || !o.tls.server_name.empty()) && !o.tls.enabled) {
    return usage_error("framed-bench", "the --tls-* options need --tls");
  }
  if (o.tls.enabled && port == 0) {
    return usage_error("framed-bench",
                       "--tls needs --port: start the TLS server yourself (framed-server "
                       "--tls-cert ...) and name its process with --server-pid");
  }
  if (o.tls.enabled && !framed::Client::tls_supported()) {
    return usage_error("framed-bench", "TLS is not available: built without OpenSSL 3");
  }
  o.progress =
      progress && !json && (o.frames == 0 && o.duration + o.warmup > std::chrono::seconds(3));

  // The loopback ceiling. On a shared machine the figure drifts over
  // minutes, so a run with load is calibrated both before and after it and
  // the higher figure is kept: the ratio reported is then conservative.
  std::string calibrate_error;
  auto measure_ceiling = [&]() {
    return framed::bench::calibrate_loopback(std::chrono::seconds(calibrate_only ? 2 : 1),
                                             calibrate_error) /
           (1024.0 * 1024.0);
  };
  double ceiling_mib = 0;
  if (calibrate) {
    ceiling_mib = measure_ceiling();
    if (ceiling_mib < 0) {
      std::fprintf(stderr, "framed-bench: %s\n", calibrate_error.c_str());
      return 1;
    }
  }
  if (calibrate_only) {
    if (json)
      std::printf("{\"loopback_mib_per_s\": %.1f}\n", ceiling_mib);
    else
      std::printf("loopback ceiling: %.1f MiB/s (one direction, 2 s)\n", ceiling_mib);
    return 0;
  }

  // Every connection needs a descriptor here (and in a server we start).
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  const rlim_t need = o.connections + 64;
  if (lim.rlim_cur < need) {
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? need : std::min<rlim_t>(need, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < need) {
      const std::size_t fit = lim.rlim_cur > 64 ? static_cast<std::size_t>(lim.rlim_cur) - 64 : 1;
      std::fprintf(stderr,
                   "framed-bench: RLIMIT_NOFILE hard limit %llu cannot hold %zu connections; "
                   "running %zu\n",
                   static_cast<unsigned long long>(lim.rlim_max), o.connections, fit);
      o.connections = fit;
    }
  }

  framed::test::ServerProcess server;
  if (port == 0) {
    framed::test::SpawnOptions spawn;
    spawn.args = {"--host",      host,          "--port",
                  "0",           "--max-conns", std::to_string(o.connections + 16),
                  "--log-level", "warn"};
    spawn.args.insert(spawn.args.end(), server_args.begin(), server_args.end());
    std::string error;
    if (!server.start(server_path, spawn, error)) {
      std::fprintf(stderr, "framed-bench: cannot start %s: %s\n", server_path.c_str(),
                   error.c_str());
      return 1;
    }
    port = server.port();
    server_pids.push_back(server.pid());
  }
  std::vector<framed::net::Endpoint> eps;
  std::string detail;
  if (!framed::net::resolve(host, port, false, eps, detail).ok() || eps.empty()) {
    std::fprintf(stderr, "framed-bench: cannot resolve '%s': %s\n", host.c_str(), detail.c_str());
    return 1;
  }

  double cpu_start = 0;
  double cpu_used = -1;
  long rss_kib = 0;
  double self_start = 0;
  double self_used = -1;
  // This process's own CPU (all its threads): the load generator's cost.
  auto self_cpu = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  auto hook = [&](bool start) {
    if (start) {
      self_start = self_cpu();
    } else {
      self_used = self_cpu() - self_start;
    }
    if (server_pids.empty()) return;
    double cpu = 0;
    for (const pid_t pid : server_pids) cpu += framed::test::cpu_seconds_of(pid);
    if (start) {
      cpu_start = cpu;
    } else {
      cpu_used = cpu - cpu_start;
      // Sampled with every connection still open.
      rss_kib = 0;
      for (const pid_t pid : server_pids) rss_kib += framed::test::rss_kib_of(pid);
    }
  };
  const auto r = handshake_mode
                     ? framed::bench::run_handshakes(eps.front(), o, handshakes == "resumed", hook)
                     : framed::bench::run_load(eps.front(), o, hook);

  const double secs = r.seconds > 0 ? r.seconds : 1e-9;
  const double fps = static_cast<double>(r.frames) / secs;
  const double mibps = static_cast<double>(r.bytes) / secs / (1024.0 * 1024.0);
  const double cpu_per_frame_us =
      (cpu_used >= 0 && r.frames > 0) ? cpu_used * 1e6 / static_cast<double>(r.frames) : -1;
  const double load_per_frame_us =
      (self_used >= 0 && r.frames > 0) ? self_used * 1e6 / static_cast<double>(r.frames) : -1;
  const auto& h = r.rtt_ns;

  if (calibrate) ceiling_mib = std::max(ceiling_mib, measure_ceiling());
  const double ceiling = ceiling_mib;

  if (server.pid() > 0) {
    server.send_signal(SIGINT);
    if (!server.wait_exit(std::chrono::seconds(30))) server.send_signal(SIGKILL);
  }

  if (json) {
    std::printf(
        "{\"scenario\": \"%s\", \"unit\": \"%s\", \"resumed\": %llu, \"connections\": %zu, "
        "\"connected\": %zu, "
        "\"frame_size\": %zu, \"depth\": %zu, \"seconds\": %.3f, \"frames\": %llu, "
        "\"frames_per_s\": %.0f, \"mib_per_s\": %.2f, "
        "\"rtt_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99_9\": %.1f, "
        "\"max\": %.1f}, \"server_cpu_us_per_frame\": %.4f, \"load_cpu_us_per_frame\": %.4f, "
        "\"threads\": %zu, \"server_rss_kib\": %ld, "
        "\"loopback_mib_per_s\": %.1f, \"loopback_fraction\": %.4f, "
        "\"errors\": %llu, \"corrupt\": %llu, \"first_error\": \"%s\"}\n",
        json_escape(label).c_str(), unit, static_cast<unsigned long long>(r.resumed), o.connections,
        r.connected, o.frame_size, o.depth, r.seconds, static_cast<unsigned long long>(r.frames),
        fps, mibps, to_us(h.percentile(0.5)), to_us(h.percentile(0.9)), to_us(h.percentile(0.99)),
        to_us(h.percentile(0.999)), to_us(h.max()), cpu_per_frame_us, load_per_frame_us, o.threads,
        rss_kib, ceiling_mib, ceiling > 0 ? mibps / ceiling_mib : 0.0,
        static_cast<unsigned long long>(r.errors), static_cast<unsigned long long>(r.corrupt),
        json_escape(r.first_error).c_str());
  } else {
    if (handshake_mode) {
      std::printf(
          "framed-bench%s%s: %s TLS handshakes, one connection at a time on %zu thread(s), "
          "%.1f s measured, server at port %u\n",
          label.empty() ? "" : " ", label.c_str(), handshakes.c_str(), o.threads, r.seconds,
          static_cast<unsigned>(port));
      std::printf("  handshakes/s %.0f (%llu handshakes, %llu resumed)\n", fps,
                  static_cast<unsigned long long>(r.frames),
                  static_cast<unsigned long long>(r.resumed));
      std::printf("  conn us      p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
                  to_us(h.percentile(0.5)), to_us(h.percentile(0.9)), to_us(h.percentile(0.99)),
                  to_us(h.percentile(0.999)), to_us(h.max()));
    } else {
      std::printf(
          "framed-bench%s%s: %zu connection(s) x %zu in flight, %zu-byte frames, %.1f s "
          "measured, %s port %u\n",
          label.empty() ? "" : " ", label.c_str(), o.connections, o.depth, o.frame_size, r.seconds,
          server.pid() > 0 ? "own server on" : "server at", static_cast<unsigned>(port));
      std::printf("  frames/s     %.0f (%llu frames)\n", fps,
                  static_cast<unsigned long long>(r.frames));
      std::printf("  MiB/s        %.1f (payload, one direction)\n", mibps);
      std::printf("  rtt us       p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
                  to_us(h.percentile(0.5)), to_us(h.percentile(0.9)), to_us(h.percentile(0.99)),
                  to_us(h.percentile(0.999)), to_us(h.max()));
    }
    if (cpu_per_frame_us >= 0) {
      std::printf("  server CPU   %.3f us/%s (%.2f s over %.1f s)\n", cpu_per_frame_us, unit,
                  cpu_used, r.seconds);
    }
    if (rss_kib > 0) std::printf("  server RSS   %ld KiB at the end of the window\n", rss_kib);
    if (load_per_frame_us >= 0) {
      std::printf("  load CPU     %.3f us/%s (%.2f s, %zu thread(s))\n", load_per_frame_us, unit,
                  self_used, o.threads);
    }
    if (ceiling > 0) {
      std::printf("  loopback     %.1f MiB/s calibrated; this run is %.1f%% of it\n", ceiling_mib,
                  100.0 * mibps / ceiling_mib);
    }
    std::printf("  errors       %llu (corrupt %llu)\n", static_cast<unsigned long long>(r.errors),
                static_cast<unsigned long long>(r.corrupt));
    for (const auto& line : fold_errors(r.error_list, "connections")) {
      std::printf("               %s\n", line.c_str());
    }
  }
  if (handshake_mode) {
    if (handshakes == "resumed" && r.resumed * 10 < r.frames * 9) {
      std::fprintf(stderr, "framed-bench: the server resumed only %llu of %llu handshakes\n",
                   static_cast<unsigned long long>(r.resumed),
                   static_cast<unsigned long long>(r.frames));
      return 1;
    }
    return (r.errors == 0 && r.frames > 0) ? 0 : 1;
  }
  return (r.errors == 0 && r.connected == o.connections && r.frames > 0) ? 0 : 1;
}
