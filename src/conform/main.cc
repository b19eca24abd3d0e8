// framed-conform: a black-box conformance checker for any length-prefixed
// echo server (spec/PROTOCOL.md). main only parses the command line and
// wires the parts together; the cases live in cases_*.cc.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "conform/options.h"
#include "conform/report.h"
#include "conform/runner.h"
#include "conform/tls_relay.h"
#include "framed/version.h"

namespace {

using namespace framed::conform;

int usage_error(const std::string& why) {
  std::fprintf(stderr, "framed-conform: %s\nTry 'framed-conform --help' for more information.\n",
               why.c_str());
  return 2;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  // Writes use MSG_NOSIGNAL; this also covers any other write to a dead peer.
  ::signal(SIGPIPE, SIG_IGN);
  std::string error;
  auto parsed = parse_options(argc, argv, error);
  if (!parsed) return usage_error(error);
  Options& options = *parsed;
  if (options.help) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("framed-conform %s\n", FRAMED_VERSION);
    return 0;
  }
  if (!options.seed_given) {
    options.seed = static_cast<std::uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000'000);
  }
  const CaseList cases = select_cases(all_cases(options), options, error);
  if (cases.empty()) return usage_error(error);
  if (options.list) {
    print_list(stdout, cases);
    return 0;
  }
  if (options.tls.enabled) set_tls(options.tls);
  framed::net::Endpoint endpoint;
  if (!reach_server(options, endpoint, error)) {
    std::fprintf(stderr, "framed-conform: %s\n", error.c_str());
    stop_relays();
    return 2;
  }
  const std::string target = endpoint.to_string();
  if (!options.json) {
    std::printf("framed-conform: %s, max-frame %u, timeout %lld ms, seed %llu%s\n", target.c_str(),
                options.max_frame, static_cast<long long>(options.timeout.count()),
                static_cast<unsigned long long>(options.seed),
                options.strict ? (options.tls.enabled ? ", strict, TLS" : ", strict")
                               : (options.tls.enabled ? ", TLS" : ""));
    std::fflush(stdout);
  }
  const auto reports = run_cases(cases, options, endpoint, !options.json);
  stop_relays();
  const Totals totals = count(reports);
  if (options.json) {
    std::printf("%s\n", to_json(options, target, reports).c_str());
  } else {
    std::printf("%s\n", summary_line(totals).c_str());
  }
  if (!options.junit_path.empty() && !write_file(options.junit_path, to_junit(target, reports))) {
    std::fprintf(stderr, "framed-conform: cannot write %s\n", options.junit_path.c_str());
    return 2;
  }
  return totals.failed > 0 ? 1 : 0;
}
