// A conformance case: an id that starts with the spec section it checks, a
// one-line summary for --list, and the check itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "conform/options.h"
#include "net/socket.h"

namespace framed::conform {

enum class Status { pass, fail, skip };

struct Result {
  Status status = Status::pass;
  // For a failure: what was sent, expected and received. For a skip: why.
  // For a pass: optional notes (the seed of a random split).
  std::vector<std::string> detail;
};

// What a running case may use.
struct Context {
  const Options& options;
  net::Endpoint endpoint;
  // This case's own seed, derived from the run's seed and the case id, so a
  // case behaves the same whichever others run with it.
  std::uint64_t seed = 0;
};

struct Case {
  std::string id;
  std::string summary;
  // Behaviour the spec recommends but a minimal echo server may lack: run
  // only with --strict.
  bool strict = false;
  std::function<Result(Context&)> run;
};

using CaseList = std::vector<Case>;

// The section part of an id: "6.2" for "6.2-oversize-...".
std::string section_of(const std::string& id);

// True when `id` belongs to `section` or one of its subsections.
bool in_section(const std::string& id, const std::string& section);

// Every case, in run order. The vector and limit cases depend on the
// server's limit, so the list does too.
CaseList all_cases(const Options& options);

// The groups all_cases() is made of, one file each.
void add_vector_cases(CaseList& cases, const Options& options);
void add_frame_cases(CaseList& cases, const Options& options);
void add_limit_cases(CaseList& cases, const Options& options);
void add_eof_cases(CaseList& cases, const Options& options);
void add_strict_cases(CaseList& cases, const Options& options);

}  // namespace framed::conform
