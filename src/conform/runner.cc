#include "conform/runner.h"

#include <algorithm>

#include "conform/wire.h"

namespace framed::conform {
namespace {

// FNV-1a: mixes a case id into the run's seed.
std::uint64_t mix(std::uint64_t seed, const std::string& id) {
  std::uint64_t h = 1469598103934665603ULL ^ seed;
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

CaseList select_cases(const CaseList& all, const Options& options, std::string& error) {
  if (options.sections.empty()) return all;
  CaseList out;
  for (const auto& section : options.sections) {
    const auto before = out.size();
    for (const auto& c : all) {
      const bool taken =
          std::any_of(out.begin(), out.end(), [&](const Case& o) { return o.id == c.id; });
      if (!taken && in_section(c.id, section)) out.push_back(c);
    }
    if (out.size() == before && std::none_of(all.begin(), all.end(), [&](const Case& c) {
          return in_section(c.id, section);
        })) {
      error = "no case checks section '" + section + "'";
      return {};
    }
  }
  // Run in the usual order whatever order the sections were named in.
  CaseList ordered;
  for (const auto& c : all) {
    if (std::any_of(out.begin(), out.end(), [&](const Case& o) { return o.id == c.id; })) {
      ordered.push_back(c);
    }
  }
  return ordered;
}

void print_list(std::FILE* out, const CaseList& cases) {
  std::size_t width = 0;
  for (const auto& c : cases) width = std::max(width, c.id.size());
  for (const auto& c : cases) {
    std::fprintf(out, "%-*s  %s%s\n", static_cast<int>(width), c.id.c_str(),
                 c.strict ? "(--strict) " : "", c.summary.c_str());
  }
}

bool reach_server(const Options& options, net::Endpoint& endpoint, std::string& error) {
  std::vector<net::Endpoint> candidates;
  std::string detail;
  const net::SysError e = net::resolve(options.host, options.port, false, candidates, detail);
  if (!e.ok() || candidates.empty()) {
    error = "cannot resolve " + options.host + ": " + (detail.empty() ? e.message() : detail);
    return false;
  }
  for (const auto& candidate : candidates) {
    std::string why;
    if (connect_server(candidate, options.timeout, why)) {
      endpoint = candidate;
      return true;
    }
    error = "cannot connect to " + candidate.to_string() + ": " + why;
  }
  return false;
}

std::vector<CaseReport> run_cases(const CaseList& cases, const Options& options,
                                  const net::Endpoint& endpoint, bool text) {
  std::vector<CaseReport> reports;
  for (const auto& c : cases) {
    CaseReport report{c.id, c.summary, {}, {}};
    const auto start = Clock::now();
    if (c.strict && !options.strict) {
      report.result = {Status::skip, {"needs --strict"}};
    } else {
      Context ctx{options, endpoint, mix(options.seed, c.id)};
      report.result = c.run(ctx);
    }
    report.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    if (text) print_case(stdout, report);
    reports.push_back(std::move(report));
  }
  return reports;
}

}  // namespace framed::conform
