#include "spec_vectors.h"

#include <cctype>
#include <charconv>
#include <fstream>
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
  std::vector<Vector> cases;
  std::vector<bool> has_end;
  std::string line;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    error = path + ":" + std::to_string(line_no) + ": " + why;
    return std::vector<Vector>{};
  };
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.front() == '[') {
      if (t.back() != ']' || t.size() < 3) return fail("bad case header");
      if (!cases.empty() && !has_end.back()) return fail("previous case has no end");
      cases.push_back(Vector{});
      has_end.push_back(false);
      cases.back().name = t.substr(1, t.size() - 2);
      continue;
    }
    if (cases.empty()) return fail("key before the first [case]");
    const auto eq = t.find('=');
    if (eq == std::string::npos) return fail("expected key = value");
    const std::string key = trim(t.substr(0, eq));
    const std::string value = trim(t.substr(eq + 1));
    Vector& v = cases.back();
    if (key == "limit") {
      if (!parse_uint(value, v.limit)) return fail("bad limit");
    } else if (key == "input") {
      if (!parse_hex(value, v.input)) return fail("bad hex input");
    } else if (key == "frame") {
      v.expected.frames.emplace_back();
      if (!parse_hex(value, v.expected.frames.back())) return fail("bad hex frame");
    } else if (key == "end") {
      if (!parse_end(value, v.expected)) return fail("bad end: " + value);
      has_end.back() = true;
    } else {
      return fail("unknown key " + key);
    }
  }
  if (!cases.empty() && !has_end.back()) return fail("last case has no end");
  return cases;
}

std::string describe(const Outcome& outcome) {
  std::ostringstream os;
  os << outcome.frames.size() << " frame(s) [";
  for (const auto& f : outcome.frames) os << ' ' << f.size() << 'B';
  os << " ] end " << to_string(outcome.error);
  if (outcome.error != DecodeError::none) os << " @ " << outcome.error_offset;
  return os.str();
}

}  // namespace framed::test
