// The part of HTTP/1.x a metrics endpoint needs: one request's line and
// headers, parsed from the bytes in hand. A value type the caller owns;
// never allocates, never reads past the span, checks the size limit first.
#pragma once

#include <cstddef>
#include <string_view>

namespace framed::ops {

enum class HttpParse {
  need_more,  // No blank line yet, and the limit not reached.
  done,       // A whole request line and headers.
  bad,        // Not an HTTP/1.x request line (400).
  too_large,  // No end of headers within the limit (431).
};

struct HttpRequest {
  std::string_view method;   // "GET".
  std::string_view target;   // "/metrics?x=1".
  std::string_view path;     // "/metrics": the target without its query.
  std::string_view version;  // "HTTP/1.1" or "HTTP/1.0".
  std::size_t length = 0;    // Bytes of the request line and headers.
};

// Parses `bytes` (views into it land in `out`). `limit` bounds the request
// line and headers together. A request body is not looked for: GET and
// HEAD have none, and any other method is refused whatever follows.
HttpParse parse_http_request(std::string_view bytes, std::size_t limit, HttpRequest& out) noexcept;

}  // namespace framed::ops
