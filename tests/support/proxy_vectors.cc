#include "proxy_vectors.h"

#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "net/proxy_text.h"

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

bool append_hex(const std::string& text, std::vector<std::byte>& out) {
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

// "text = ..." takes the value verbatim (after the one space that follows
// '='), with \r, \n, \\ and \xHH escapes, so trailing spaces survive.
bool append_text(const std::string& raw, std::vector<std::byte>& out) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out.push_back(static_cast<std::byte>(raw[i]));
      continue;
    }
    if (++i >= raw.size()) return false;
    switch (raw[i]) {
      case 'r': out.push_back(std::byte{'\r'}); break;
      case 'n': out.push_back(std::byte{'\n'}); break;
      case '\\': out.push_back(std::byte{'\\'}); break;
      case 'x': {
        if (i + 2 >= raw.size()) return false;
        const int hi = hex_value(raw[i + 1]);
        const int lo = hex_value(raw[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<std::byte>(hi * 16 + lo));
        i += 2;
        break;
      }
      default: return false;
    }
  }
  return true;
}

template <typename T>
bool parse_uint(const std::string& text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_end(const std::string& text, ProxyOutcome& out) {
  const auto at = text.find('@');
  if (at == std::string::npos) return false;
  const std::string name = trim(text.substr(0, at));
  if (!parse_uint(trim(text.substr(at + 1)), out.offset)) return false;
  if (name == "done") {
    out.end = ProxyOutcome::End::done;
    return true;
  }
  if (name == "empty") {
    out.end = ProxyOutcome::End::empty;
    return out.offset == 0;
  }
  for (std::uint8_t v = 1; v < 64; ++v) {
    const auto e = static_cast<ProxyError>(v);
    if (to_string(e) == name) {
      out.end = ProxyOutcome::End::error;
      out.error = e;
      return true;
    }
  }
  return false;
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') return false;
  }
  return true;
}

}  // namespace

std::string describe(const ProxyOutcome& outcome) {
  switch (outcome.end) {
    case ProxyOutcome::End::done:
      return "done @ " + std::to_string(outcome.offset) + ": " + outcome.header;
    case ProxyOutcome::End::error:
      return std::string(to_string(outcome.error)) + " @ " + std::to_string(outcome.offset);
    case ProxyOutcome::End::empty: return "empty @ 0";
  }
  return "?";
}

std::vector<ProxyVector> load_proxy_vectors(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = path + ": cannot open";
    return {};
  }
  std::vector<ProxyVector> cases;
  std::set<std::string> names;
  bool has_input = false;
  bool has_end = false;
  bool has_header = false;
  bool has_limit = false;
  std::string line;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    error = path + ":" + std::to_string(line_no) + ": " + why;
    return std::vector<ProxyVector>{};
  };
  auto incomplete = [&]() -> std::string {
    if (cases.empty()) return {};
    if (!has_input) return "case [" + cases.back().name + "] has no input";
    if (!has_end) return "case [" + cases.back().name + "] has no end";
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
      cases.push_back(ProxyVector{});
      cases.back().name = name;
      has_input = has_end = has_header = has_limit = false;
      continue;
    }
    if (cases.empty()) return fail("key before the first [case]");
    const auto eq = line.find('=');
    if (eq == std::string::npos) return fail("expected key = value");
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    ProxyVector& v = cases.back();
    if (has_end) return fail("key " + key + " after end");
    if (key == "v2_max") {
      if (has_limit || !parse_uint(value, v.v2_max)) return fail("bad or repeated v2_max");
      has_limit = true;
    } else if (key == "input") {
      has_input = true;
      if (!append_hex(value, v.input)) return fail("bad hex input");
    } else if (key == "text") {
      has_input = true;
      std::string raw = line.substr(eq + 1);
      if (!raw.empty() && raw[0] == ' ') raw.erase(0, 1);
      if (!append_text(raw, v.input)) return fail("bad escape in text");
    } else if (key == "header") {
      if (has_header) return fail("repeated header");
      has_header = true;
      v.expected.header = value;
    } else if (key == "end") {
      has_end = true;
      if (!parse_end(value, v.expected)) return fail("bad end: " + value);
      if ((v.expected.end == ProxyOutcome::End::done) != has_header) {
        return fail("a header line goes with end = done, and only with it");
      }
    } else {
      return fail("unknown key " + key);
    }
  }
  if (const std::string why = incomplete(); !why.empty()) return fail(why);
  return cases;
}

ProxyOutcome replay_proxy(
    ProxyParser& parser, std::span<const std::byte> input, const std::vector<std::size_t>& split,
    const std::function<std::span<const std::byte>(std::span<const std::byte>)>& place,
    std::size_t& consumed, std::string& violation) {
  ProxyOutcome out;
  consumed = 0;
  std::size_t at = 0;
  for (const std::size_t n : split) {
    const auto piece = place(input.subspan(at, n));
    at += n;
    const ProxyResult r = parser.feed(piece);
    if (r.consumed > piece.size()) violation = "consumed more than the piece";
    consumed += r.consumed;
    if (r.status == ProxyStatus::need_more) {
      if (r.consumed != piece.size()) violation = "need_more without consuming everything";
      continue;
    }
    // Both ends are sticky: the rest of the input is refused untouched.
    const auto rest = place(input.subspan(consumed));
    const ProxyResult again = parser.feed(rest);
    if (again.status != r.status || again.consumed != 0) violation = "end is not sticky";
    if (r.status == ProxyStatus::done) {
      out.end = ProxyOutcome::End::done;
      out.offset = consumed;
      out.header = net::describe(parser.header());
      if (parser.offset() != consumed) violation = "offset() differs from bytes consumed";
    } else {
      out.end = ProxyOutcome::End::error;
      out.error = parser.error();
      out.offset = parser.error_offset();
      if (parser.error_offset() != consumed) violation = "error offset differs from consumed";
    }
    return out;
  }
  const ProxyError e = parser.finish();
  if (e != ProxyError::none) {
    out.end = ProxyOutcome::End::error;
    out.error = e;
    out.offset = parser.error_offset();
  } else if (consumed != 0) {
    violation = "finish() after consumed bytes reported none";
  }
  return out;
}

}  // namespace framed::test
