// The length limit (§3) and what the server does past it (§6.2): a frame of
// exactly --max-frame passes; a length one above closes the connection after
// the earlier echoes, without touching other connections; non-protocol peers
// (whose first four bytes read as a huge length) are closed and the server
// keeps serving.
#include <limits>
#include <string_view>

#include "conform/case.h"
#include "conform/steps.h"
#include "conform/verdict.h"
#include "framed/encoder.h"

namespace framed::conform {
namespace {

// The exact-limit frame is sent and echoed in full; above this it would make
// the run slow and memory-hungry for no extra insight.
constexpr std::uint32_t kExactLimitCap = 64U * 1024U * 1024U;

Result exact_max(Context& ctx) {
  const std::uint32_t max = ctx.options.max_frame;
  if (max > kExactLimitCap)
    return skip("--max-frame is above 64 MiB; not sending a frame that large");
  std::vector<std::byte> s;
  append_frame(s, payload(ctx, 3, 1));
  append_frame(s, pattern(max, ctx.seed));
  append_frame(s, payload(ctx, 2, 2));
  SendPlan plan;
  plan.data = s;
  plan.shut_wr = true;
  Expect expect;
  expect.echo = s;
  expect.close = true;
  return exchange(ctx, "frames of 3 B, exactly --max-frame (" + size_text(max) + ") and 2 B", plan,
                  expect);
}

// Frames of 5 and 0 bytes, then a header of max+1 and up to 1 KiB of its
// payload. Returns the stream and, in `good`, the length of the good part.
std::vector<std::byte> oversize_stream(std::uint32_t max, std::size_t& good) {
  std::vector<std::byte> s;
  append_frame(s, pattern(std::min<std::size_t>(5, max), 3));
  append_frame(s, {});
  good = s.size();
  const auto header = encode_header(max + 1);
  s.insert(s.end(), header.begin(), header.end());
  const auto tail = pattern(std::min<std::size_t>(1024, std::size_t{max} + 1), 4);
  s.insert(s.end(), tail.begin(), tail.end());
  return s;
}

Result oversize_closes(Context& ctx) {
  const std::uint32_t max = ctx.options.max_frame;
  if (max == std::numeric_limits<std::uint32_t>::max())
    return skip("no length exceeds --max-frame");
  std::size_t good = 0;
  const auto s = oversize_stream(max, good);
  SendPlan plan;
  plan.data = s;
  Expect expect;
  expect.echo.assign(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(good));
  expect.close = true;
  return exchange(ctx,
                  "frames of 5 and 0 B, then a length of --max-frame + 1 (" +
                      std::to_string(std::uint64_t{max} + 1) +
                      ") and 1 KiB of payload, no half-close",
                  plan, expect);
}

Result oversize_others(Context& ctx) {
  const std::uint32_t max = ctx.options.max_frame;
  if (max == std::numeric_limits<std::uint32_t>::max())
    return skip("no length exceeds --max-frame");
  std::string error;
  const net::UniqueFd other = connect_server(ctx.endpoint, ctx.options.timeout, error);
  if (!other) return fail({"cannot connect: " + error});
  // The other connection is mid-conversation when the oversize frame arrives.
  const auto first = frame_of(payload(ctx, 100, 5));
  SendPlan p1;
  p1.data = first;
  Expect e1;
  e1.echo = first;
  Outcome o1 = transfer(other.get(), p1, e1, ctx.options.timeout);
  if (auto lines = judge(e1, o1, ctx.options.timeout); !lines.empty()) {
    lines.insert(lines.begin(), "other connection, before the oversize frame: one 100 B frame");
    return fail(lines);
  }
  std::size_t good = 0;
  const auto s = oversize_stream(max, good);
  SendPlan plan;
  plan.data = s;
  Expect expect;
  expect.echo.assign(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(good));
  expect.close = true;
  Result bad = exchange(ctx, "oversize connection: 5 and 0 B frames, then max + 1", plan, expect);
  if (bad.status == Status::fail) return bad;
  const auto second = frame_of(payload(ctx, 300, 6));
  SendPlan p2;
  p2.data = second;
  p2.shut_wr = true;
  Expect e2;
  e2.echo = second;
  e2.close = true;
  const Outcome o2 = transfer(other.get(), p2, e2, ctx.options.timeout);
  if (auto lines = judge(e2, o2, ctx.options.timeout); !lines.empty()) {
    lines.insert(lines.begin(), "other connection, after the oversize one closed: one 300 B frame");
    return fail(lines);
  }
  return pass();
}

// A non-protocol peer: its first four bytes, read as a length, exceed the
// limit, so the server must close it without echoing anything.
Result garbage(Context& ctx, std::string_view name, const std::vector<std::byte>& bytes) {
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i)
    length = (length << 8U) | static_cast<std::uint32_t>(bytes[static_cast<std::size_t>(i)]);
  if (length <= ctx.options.max_frame) {
    return skip(std::string(name) + " reads as a legal length at this --max-frame");
  }
  SendPlan plan;
  plan.data = bytes;
  Expect expect;
  expect.close = true;
  Result r = exchange(ctx,
                      std::string(name) + " (its first 4 bytes read as length " +
                          std::to_string(length) + "), no half-close",
                      plan, expect);
  if (r.status == Status::fail) return r;
  auto lines = check_serving(ctx, "after the " + std::string(name));
  return lines.empty() ? pass() : fail(lines);
}

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

Result garbage_http(Context& ctx) {
  return garbage(ctx, "an HTTP request", bytes_of("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
}

Result garbage_tls(Context& ctx) {
  // A TLS 1.2 ClientHello record start: handshake, version, record length,
  // ClientHello, its length, client version, then 32 random bytes.
  std::vector<std::byte> hello;
  for (unsigned v : {0x16U, 0x03U, 0x01U, 0x00U, 0xa5U, 0x01U, 0x00U, 0x00U, 0xa1U, 0x03U, 0x03U}) {
    hello.push_back(static_cast<std::byte>(v));
  }
  const auto random = pattern(32, ctx.seed);
  hello.insert(hello.end(), random.begin(), random.end());
  return garbage(ctx, "a TLS ClientHello", hello);
}

}  // namespace

void add_limit_cases(CaseList& cases, const Options&) {
  cases.push_back(
      {"3-exact-max-frame", "a frame of exactly --max-frame bytes is echoed", false, exact_max});
  cases.push_back({"6.2-oversize-echoes-earlier-then-closes",
                   "length --max-frame + 1: earlier frames echoed, then the connection closes",
                   false, oversize_closes});
  cases.push_back({"6.2-oversize-others-unaffected",
                   "an oversize frame on one connection leaves another one working", false,
                   oversize_others});
  cases.push_back({"6.2-garbage-http-request",
                   "an HTTP request line is closed without echo; the next connection works", false,
                   garbage_http});
  cases.push_back({"6.2-garbage-tls-client-hello",
                   "a TLS ClientHello is closed without echo; the next connection works", false,
                   garbage_tls});
}

}  // namespace framed::conform
