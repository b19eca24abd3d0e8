// Choosing, checking the server is there, and running the cases in order.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "conform/case.h"
#include "conform/report.h"

namespace framed::conform {

// The cases in `all` that belong to one of options.sections (all when none
// are given). Empty with `error` set when a section selects nothing.
CaseList select_cases(const CaseList& all, const Options& options, std::string& error);

// --list: one line per case, "id  summary", strict ones marked.
void print_list(std::FILE* out, const CaseList& cases);

// Resolves --host and --port and makes one connection, so an absent server is
// reported once (exit 2) instead of as every case failing.
bool reach_server(const Options& options, net::Endpoint& endpoint, std::string& error);

// Runs each case (strict ones SKIP without --strict), printing each line as it
// finishes when `text` is set.
std::vector<CaseReport> run_cases(const CaseList& cases, const Options& options,
                                  const net::Endpoint& endpoint, bool text);

}  // namespace framed::conform
