#include "conform/report.h"

#include <cstdio>

namespace framed::conform {
namespace {

const char* status_name(Status s) {
  switch (s) {
    case Status::pass: return "PASS";
    case Status::fail: return "FAIL";
    case Status::skip: return "SKIP";
  }
  return "?";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // XML 1.0 forbids most control characters even escaped.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out.push_back(c);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += (s.empty() ? "" : "\n") + l;
  return s;
}

std::string seconds(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

Totals count(const std::vector<CaseReport>& reports) {
  Totals t;
  for (const auto& r : reports) {
    if (r.result.status == Status::pass) ++t.passed;
    if (r.result.status == Status::fail) ++t.failed;
    if (r.result.status == Status::skip) ++t.skipped;
  }
  return t;
}

void print_case(std::FILE* out, const CaseReport& report) {
  std::fprintf(out, "%s  %s\n", status_name(report.result.status), report.id.c_str());
  for (const auto& line : report.result.detail) std::fprintf(out, "        %s\n", line.c_str());
  std::fflush(out);
}

std::string summary_line(const Totals& t) {
  std::string s = std::to_string(t.passed) + " passed, " + std::to_string(t.failed) + " failed";
  if (t.skipped > 0) s += ", " + std::to_string(t.skipped) + " skipped";
  return s;
}

std::string to_json(const Options& options, const std::string& target,
                    const std::vector<CaseReport>& reports) {
  const Totals t = count(reports);
  std::string s = "{\"target\":" + json_string(target) +
                  ",\"max_frame\":" + std::to_string(options.max_frame) +
                  ",\"timeout_ms\":" + std::to_string(options.timeout.count()) +
                  ",\"strict\":" + (options.strict ? "true" : "false") +
                  ",\"seed\":" + std::to_string(options.seed) + ",\"cases\":[";
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const CaseReport& r = reports[i];
    std::string status = status_name(r.result.status);
    for (char& c : status) c = static_cast<char>(c - 'A' + 'a');
    s += (i > 0 ? "," : "");
    s += "{\"id\":" + json_string(r.id) + ",\"section\":" + json_string(section_of(r.id)) +
         ",\"status\":\"" + status + "\",\"ms\":" + std::to_string(r.elapsed.count()) +
         ",\"detail\":[";
    for (std::size_t k = 0; k < r.result.detail.size(); ++k) {
      s += (k > 0 ? "," : "") + json_string(r.result.detail[k]);
    }
    s += "]}";
  }
  s += "],\"passed\":" + std::to_string(t.passed) + ",\"failed\":" + std::to_string(t.failed) +
       ",\"skipped\":" + std::to_string(t.skipped) + "}";
  return s;
}

std::string to_junit(const std::string& target, const std::vector<CaseReport>& reports) {
  const Totals t = count(reports);
  std::chrono::milliseconds total{0};
  for (const auto& r : reports) total += r.elapsed;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<testsuites>\n  <testsuite name=\"framed-conform " + xml_escape(target) + "\" tests=\"" +
       std::to_string(reports.size()) + "\" failures=\"" + std::to_string(t.failed) +
       "\" errors=\"0\" skipped=\"" + std::to_string(t.skipped) + "\" time=\"" + seconds(total) +
       "\">\n";
  for (const auto& r : reports) {
    s += "    <testcase classname=\"spec." + xml_escape(section_of(r.id)) + "\" name=\"" +
         xml_escape(r.id) + "\" time=\"" + seconds(r.elapsed) + "\"";
    const std::string detail = xml_escape(joined(r.result.detail));
    if (r.result.status == Status::fail) {
      const std::string first = r.result.detail.empty() ? "" : xml_escape(r.result.detail.front());
      s +=
          ">\n      <failure message=\"" + first + "\">" + detail + "</failure>\n    </testcase>\n";
    } else if (r.result.status == Status::skip) {
      s += ">\n      <skipped message=\"" + detail + "\"/>\n    </testcase>\n";
    } else {
      s += "/>\n";
    }
  }
  s += "  </testsuite>\n</testsuites>\n";
  return s;
}

}  // namespace framed::conform
