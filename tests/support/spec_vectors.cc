#include "spec_vectors.h"

#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace framed::test {
namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])) != 0) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])) != 0) --e;
  return s.substr(b, e - b);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hex(const std::string& text, std::vector<std::byte>& out) {
  std::string digits;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) digits.push_back(c);
  }
  if (digits.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    const int hi = hex_value(digits[i]);
    const int lo = hex_value(digits[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<std::byte>(hi * 16 + lo));
  }
  return true;
}

template <typename T>
bool parse_uint(const std::string& text, T& out) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc() && ptr == last;
}

bool parse_end(const std::string& text, Outcome& out) {
  if (text == "ok") return true;
  const auto at = text.find('@');
  if (at == std::string::npos) return false;
  return parse_error_name(trim(text.substr(0, at)), out.error) && out.error != DecodeError::none &&
         parse_uint(trim(text.substr(at + 1)), out.error_offset);
}

}  // namespace

bool parse_error_name(const std::string& name, DecodeError& out) {
  for (auto e : {DecodeError::none, DecodeError::frame_too_large, DecodeError::truncated_header,
                 DecodeError::truncated_payload}) {
    if (to_string(e) == name) {
      out = e;
      return true;
    }
  }
  return false;
}

std::vector<Vector> load_vectors(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = path + ": cannot open";
    return {};
  }
  std::stringstream text;
  text << in.rdbuf();
  return load_vectors_from_string(text.str(), path, error);
}

namespace {

// Which keys a case has seen, so that each may appear once and end last.
struct Seen {
  bool limit = false;
  bool input = false;
  bool partial = false;
  bool end = false;
};

// Case names become test names and corpus file names.
bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') return false;
  }
  return true;
}

}  // namespace

std::vector<Vector> load_vectors_from_string(const std::string& text, const std::string& source,
                                             std::string& error) {
  std::istringstream in(text);
  std::vector<Vector> cases;
  Seen seen;
  std::set<std::string> names;
  std::string line;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    error = source + ":" + std::to_string(line_no) + ": " + why;
    return std::vector<Vector>{};
  };
  // A case is complete once it has its input and its end.
  auto incomplete = [&]() -> std::string {
    if (cases.empty()) return {};
    if (!seen.input) return "case [" + cases.back().name + "] has no input";
    if (!seen.end) return "case [" + cases.back().name + "] has no end";
    return {};
  };
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.front() == '[') {
      if (t.back() != ']' || t.size() < 3) return fail("bad case header");
      if (const std::string why = incomplete(); !why.empty()) return fail(why);
      const std::string name = t.substr(1, t.size() - 2);
      if (!valid_name(name)) return fail("case name must be letters, digits and _: " + name);
      if (!names.insert(name).second) return fail("duplicate case name " + name);
      cases.push_back(Vector{});
      cases.back().name = name;
      seen = Seen{};
      continue;
    }
    if (cases.empty()) return fail("key before the first [case]");
    const auto eq = t.find('=');
    if (eq == std::string::npos) return fail("expected key = value");
    const std::string key = trim(t.substr(0, eq));
    const std::string value = trim(t.substr(eq + 1));
    Vector& v = cases.back();
    if (seen.end) return fail("key " + key + " after end");
    if (key == "limit") {
      if (seen.limit) return fail("duplicate limit");
      seen.limit = true;
      if (!parse_uint(value, v.limit)) return fail("bad limit");
    } else if (key == "input") {
      if (seen.input) return fail("duplicate input");
      seen.input = true;
      if (!parse_hex(value, v.input)) return fail("bad hex input");
    } else if (key == "frame") {
      v.expected.frames.emplace_back();
      if (!parse_hex(value, v.expected.frames.back())) return fail("bad hex frame");
    } else if (key == "partial") {
      if (seen.partial) return fail("duplicate partial");
      seen.partial = true;
      if (!parse_hex(value, v.expected.partial)) return fail("bad hex partial");
    } else if (key == "end") {
      seen.end = true;
      if (!parse_end(value, v.expected)) return fail("bad end: " + value);
      const bool truncated_payload = v.expected.error == DecodeError::truncated_payload;
      if (truncated_payload && !seen.partial) {
        return fail("end = truncated_payload needs a partial line before it");
      }
      if (!truncated_payload && seen.partial) {
        return fail("partial is only for end = truncated_payload");
      }
    } else {
      return fail("unknown key " + key);
    }
  }
  if (const std::string why = incomplete(); !why.empty()) return fail(why);
  return cases;
}

std::uint64_t expected_consumed(const Outcome& outcome, std::uint64_t input_size) {
  return outcome.error == DecodeError::frame_too_large ? outcome.error_offset : input_size;
}

std::string describe(const Outcome& outcome) {
  std::ostringstream os;
  os << outcome.frames.size() << " frame(s) [";
  for (const auto& f : outcome.frames) os << ' ' << f.size() << 'B';
  os << " ] end " << to_string(outcome.error);
  if (outcome.error != DecodeError::none) os << " @ " << outcome.error_offset;
  if (!outcome.partial.empty()) os << " after " << outcome.partial.size() << "B of partial payload";
  return os.str();
}

}  // namespace framed::test
