#include "conform/case.h"

namespace framed::conform {

std::string section_of(const std::string& id) { return id.substr(0, id.find('-')); }

bool in_section(const std::string& id, const std::string& section) {
  const std::string own = section_of(id);
  // "6" selects "6" and "6.2" but not "61".
  return own == section ||
         (own.size() > section.size() && own.compare(0, section.size(), section) == 0 &&
          own[section.size()] == '.');
}

CaseList all_cases(const Options& options) {
  CaseList cases;
  add_frame_cases(cases, options);
  add_vector_cases(cases, options);
  add_limit_cases(cases, options);
  add_eof_cases(cases, options);
  add_strict_cases(cases, options);
  return cases;
}

}  // namespace framed::conform
