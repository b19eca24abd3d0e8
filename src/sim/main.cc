// framed-sim: the deterministic simulator's command line. Runs one seed and
// prints its trace (a replay), or many seeds (a count, or for some minutes)
// and reports every failing seed with the command that replays it.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "framed/version.h"
#include "sim/simulation.h"
#include "util/cli.h"

namespace {

constexpr const char* kUsage = R"(Usage: framed-sim [--seed S | --seeds N | --minutes M] [options]

Runs framed's connection core (the real Worker, Acceptor, Conn and event
loop) over a simulated network and clock, with clients, faults and a drain
drawn from a 64-bit seed, and checks spec/PROTOCOL.md section 6 at every
step. The same seed always replays the same run.

  --seed S           run seed S and print its trace: what each peer and the
                     server did, with simulated times in milliseconds
  --seeds N          run N seeds, from --from (default 1)
  --minutes M        run seeds from --from until M minutes have passed
  --from S           the first seed of --seeds or --minutes
  --seed-file F      run the seeds listed in F (one per line; '#' starts a
                     comment): the regression seeds of bugs found before
  --determinism      run every seed twice and fail if the traces differ
  --quiet            print only failures and the summary
  -h, --help         this text
  --version          the version

Exit status: 0 when every seed passed, 1 when one failed (its replay
command is printed), 2 on bad usage.
)";

void print_failure(const framed::sim::Outcome& o) {
  std::printf("FAIL seed %" PRIu64 ": %s\n", o.seed, o.setup.c_str());
  for (const auto& v : o.violations) std::printf("       %s\n", v.c_str());
  std::printf("       replay: framed-sim --seed %" PRIu64 "\n", o.seed);
}

}  // namespace

int main(int argc, char** argv) {
  using framed::util::CliOption;
  std::uint64_t seed = 0;
  bool one = false;
  std::size_t count = 0;
  std::uint64_t minutes = 0;
  std::uint64_t from = 1;
  bool determinism = false;
  bool quiet = false;
  std::string seed_file;
  const CliOption options[] = {
      {"--seed", "a seed (0 to 2^64-1)",
       [&](std::string_view v) {
         one = true;
         return framed::util::set_u64(seed, UINT64_MAX)(v);
       }},
      {"--seeds", "a count of seeds", framed::util::set_count(count, 1'000'000'000)},
      {"--minutes", "minutes (1 to 10000)", framed::util::set_u64(minutes, 10'000)},
      {"--from", "a seed", framed::util::set_u64(from, UINT64_MAX)},
      {"--determinism", "", framed::util::set_flag(determinism)},
      {"--quiet", "", framed::util::set_flag(quiet), "-q"},
      {"--seed-file", "a file of seeds", framed::util::set_text(seed_file)},
  };
  std::string message;
  switch (framed::util::parse_cli(argc, argv, options, nullptr, message)) {
    case framed::util::CliOutcome::help: std::fputs(kUsage, stdout); return 0;
    case framed::util::CliOutcome::version:
      std::printf("framed-sim %s\n", FRAMED_VERSION);
      return 0;
    case framed::util::CliOutcome::error: return framed::util::usage_error("framed-sim", message);
    case framed::util::CliOutcome::run: break;
  }
  std::vector<std::uint64_t> listed;
  if (!seed_file.empty()) {
    std::FILE* f = std::fopen(seed_file.c_str(), "r");
    if (f == nullptr) return framed::util::usage_error("framed-sim", "cannot read " + seed_file);
    char line[512];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(line, &end, 10);
      if (end != line) listed.push_back(v);
    }
    std::fclose(f);
    if (listed.empty())
      return framed::util::usage_error("framed-sim", seed_file + " lists no seed");
  }
  if (static_cast<int>(one) + static_cast<int>(count > 0) + static_cast<int>(minutes > 0) +
          static_cast<int>(!listed.empty()) !=
      1) {
    return framed::util::usage_error("framed-sim",
                                     "give one of --seed, --seeds, --minutes or --seed-file");
  }
  if (one) {
    framed::sim::RunOptions ro;
    ro.keep_trace = true;
    const auto o = framed::sim::run(seed, ro);
    for (const auto& line : o.trace) std::printf("%s\n", line.c_str());
    std::printf("seed %" PRIu64 ": %s after %" PRIu64 " steps, %" PRIu64
                " fault point(s) fired, trace hash %016" PRIx64 "\n",
                seed, o.ok() ? "PASS" : "FAIL", o.steps, o.buggified, o.trace_hash);
    if (!o.ok()) print_failure(o);
    return o.ok() ? 0 : 1;
  }
  const auto started = std::chrono::steady_clock::now();
  const auto until = started + std::chrono::minutes(minutes);
  std::uint64_t ran = 0;
  std::uint64_t failed = 0;
  std::uint64_t first_failure = 0;
  for (std::uint64_t i = 0;; ++i) {
    if (count > 0 && ran >= count) break;
    if (!listed.empty() && i >= listed.size()) break;
    if (minutes > 0 && std::chrono::steady_clock::now() >= until) break;
    const std::uint64_t s = listed.empty() ? from + i : listed[i];
    const auto o = framed::sim::run(s);
    ++ran;
    bool ok = o.ok();
    if (ok && determinism) {
      const auto again = framed::sim::run(s);
      if (again.trace_hash != o.trace_hash) {
        ok = false;
        std::printf("FAIL seed %" PRIu64 ": not deterministic (trace hash %016" PRIx64
                    " then %016" PRIx64 ")\n       replay: framed-sim --seed %" PRIu64 "\n",
                    s, o.trace_hash, again.trace_hash, s);
      }
    }
    if (!ok) {
      if (failed++ == 0) first_failure = s;
      if (!o.ok()) print_failure(o);
    } else if (!quiet) {
      std::printf("PASS seed %" PRIu64 " (%" PRIu64 " steps)\n", s, o.steps);
    }
    std::fflush(stdout);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "%" PRIu64 " seed(s) %s in %.1f s: %" PRIu64 " passed, %" PRIu64 " failed\n", ran,
      listed.empty() ? ("from " + std::to_string(from)).c_str() : ("from " + seed_file).c_str(),
      secs, ran - failed, failed);
  if (failed > 0) std::printf("first failure: framed-sim --seed %" PRIu64 "\n", first_failure);
  return failed > 0 ? 1 : 0;
}
