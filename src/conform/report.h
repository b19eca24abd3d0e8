// The three ways results leave the program: text lines as cases finish, one
// JSON object, and a JUnit XML file for CI systems.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "conform/case.h"

namespace framed::conform {

struct CaseReport {
  std::string id;
  std::string summary;
  Result result;
  std::chrono::milliseconds elapsed{0};
};

struct Totals {
  std::size_t passed = 0;
  std::size_t failed = 0;
  std::size_t skipped = 0;
};

Totals count(const std::vector<CaseReport>& reports);

// "PASS  id", then for a failure (or skip) its detail lines, indented.
void print_case(std::FILE* out, const CaseReport& report);

// "N passed, M failed" and ", K skipped" when any were.
std::string summary_line(const Totals& totals);

// One JSON object with the run's parameters, every case and the totals.
std::string to_json(const Options& options, const std::string& target,
                    const std::vector<CaseReport>& reports);

// A JUnit XML document: one testsuite, one testcase per case.
std::string to_junit(const std::string& target, const std::vector<CaseReport>& reports);

}  // namespace framed::conform
