// End of input (§6.3): what arrived whole is echoed, then the server closes.
// Whether a server echoes the partial frame's bytes as they arrived is left
// open by the spec, so those may follow the echo, but only as a prefix of
// exactly the partial bytes sent.
#include <algorithm>

#include "conform/case.h"
#include "conform/steps.h"
#include "conform/verdict.h"

namespace framed::conform {
namespace {

Result partial_then_eof(Context& ctx, const std::string& what, std::size_t partial_payload,
                        std::size_t header_bytes) {
  std::vector<std::byte> s;
  append_frame(s, payload(ctx, 6, 1));
  append_frame(s, {});
  append_frame(s, payload(ctx, 40, 2));
  const std::size_t whole = s.size();
  const auto partial = frame_of(payload(ctx, 200, 3));
  // Under a small --max-frame the partial frame is shorter: cut it halfway.
  const std::size_t cut = std::min(partial_payload, (partial.size() - 4) / 2);
  if (cut != partial_payload && cut == 0) return skip("needs --max-frame of at least 2 B");
  if (header_bytes + cut >= partial.size()) return skip("needs --max-frame of at least 1 B");
  s.insert(s.end(), partial.begin(),
           partial.begin() + static_cast<std::ptrdiff_t>(header_bytes + cut));
  SendPlan plan;
  plan.data = s;
  plan.shut_wr = true;
  Expect expect;
  expect.echo.assign(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(whole));
  expect.tolerated.assign(s.begin() + static_cast<std::ptrdiff_t>(whole), s.end());
  expect.close = true;
  return exchange(ctx, what, plan, expect);
}

Result mid_header(Context& ctx) {
  return partial_then_eof(ctx, "frames of 6, 0 and 40 B, then 2 header bytes, then a half-close", 0,
                          2);
}

Result header_only(Context& ctx) {
  return partial_then_eof(ctx, "frames of 6, 0 and 40 B, then a 4-byte header of 200, half-close",
                          0, 4);
}

Result mid_payload(Context& ctx) {
  return partial_then_eof(
      ctx, "frames of 6, 0 and 40 B, then a header of 200 and 90 payload bytes, half-close", 90, 4);
}

// More than the socket buffers hold on both sides: at the client's FIN the
// server still has echoes pending, and must send them all before its own.
Result half_close_backlog(Context& ctx) {
  constexpr std::size_t kTotal = 32U << 20U;
  // Well inside the limit, so only the backlog is under test here.
  const std::size_t size = std::min<std::size_t>(60'000, ctx.options.max_frame / 2);
  if (size < 512) return skip("needs --max-frame of at least 1 KiB");
  std::vector<std::byte> s;
  s.reserve(kTotal + kTotal / size * 4 + size);
  for (std::uint64_t i = 0; s.size() < kTotal; ++i) append_frame(s, pattern(size, ctx.seed + i));
  SendPlan plan;
  plan.data = s;
  plan.shut_wr = true;
  plan.lazy_read = true;
  Expect expect;
  expect.echo = s;
  expect.close = true;
  return exchange(ctx,
                  size_text(s.size()) + " in frames of " + size_text(size) +
                      ", read only when writes stall, then a half-close and read to the end",
                  plan, expect);
}

}  // namespace

void add_eof_cases(CaseList& cases, const Options&) {
  cases.push_back({"6.3-eof-mid-header",
                   "input ends inside a header: complete frames echoed, then a close", false,
                   mid_header});
  cases.push_back({"6.3-eof-after-header",
                   "input ends right after a header: complete frames echoed, then a close", false,
                   header_only});
  cases.push_back({"6.3-eof-mid-payload",
                   "input ends inside a payload: complete frames echoed, then a close", false,
                   mid_payload});
  cases.push_back({"6.3-half-close-backlog",
                   "half-close with 32 MiB of echoes pending: all arrive before the server's FIN",
                   false, half_close_backlog});
}

}  // namespace framed::conform
