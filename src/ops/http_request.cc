#include "ops/http_request.h"

namespace framed::ops {
namespace {

bool is_token_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '!' || c == '#' || c == '$' || c == '%' || c == '&' ||
         c == '\'' || c == '*' || c == '+' || c == '^' || c == '`' || c == '|' || c == '~';
}

}  // namespace

HttpParse parse_http_request(std::string_view bytes, std::size_t limit, HttpRequest& out) noexcept {
  // The request line is judged as soon as it is whole, so garbage is
  // refused at once, not after the limit's worth of it.
  const std::size_t eol = bytes.find('\n');
  if (eol == std::string_view::npos) {
    // A request line can only start with a method's characters.
    for (const char c : bytes.substr(0, 16)) {
      if (c == ' ') break;
      if (!is_token_char(c)) return HttpParse::bad;
    }
    return bytes.size() >= limit ? HttpParse::too_large : HttpParse::need_more;
  }
  if (eol >= limit) return HttpParse::too_large;
  std::string_view line = bytes.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return HttpParse::bad;
  }
  out.method = line.substr(0, sp1);
  for (const char c : out.method) {
    if (!is_token_char(c)) return HttpParse::bad;
  }
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.version = line.substr(sp2 + 1);
  if (out.target.empty() || (out.version != "HTTP/1.1" && out.version != "HTTP/1.0")) {
    return HttpParse::bad;
  }
  out.path = out.target.substr(0, out.target.find('?'));
  // The headers end at an empty line ("\r\n\r\n", or bare "\n\n").
  std::size_t at = eol + 1;
  for (;;) {
    const std::size_t next = bytes.find('\n', at);
    if (next == std::string_view::npos) {
      return bytes.size() >= limit ? HttpParse::too_large : HttpParse::need_more;
    }
    if (next >= limit) return HttpParse::too_large;
    const std::size_t len = next - at;
    if (len == 0 || (len == 1 && bytes[at] == '\r')) {
      out.length = next + 1;
      return HttpParse::done;
    }
    at = next + 1;
  }
}

}  // namespace framed::ops
