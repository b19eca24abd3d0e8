#include "conform/steps.h"

#include <algorithm>

#include "conform/verdict.h"
#include "framed/encoder.h"

namespace framed::conform {

std::vector<std::byte> frame_of(std::span<const std::byte> payload) {
  std::vector<std::byte> out;
  append_frame(out, payload);
  return out;
}

void append_frame(std::vector<std::byte>& stream, std::span<const std::byte> payload) {
  const auto header = encode_header(static_cast<std::uint32_t>(payload.size()));
  stream.insert(stream.end(), header.begin(), header.end());
  stream.insert(stream.end(), payload.begin(), payload.end());
}

std::vector<std::byte> pattern(std::size_t size, std::uint64_t salt) {
  std::vector<std::byte> out(size);
  std::uint64_t x = salt * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
  std::byte prev{0};
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13U;
    x ^= x >> 7U;
    x ^= x << 17U;
    auto b = static_cast<std::byte>(x >> 56U);
    // Equal neighbours would hide a repeated or dropped byte between them.
    if (i > 0 && b == prev) b ^= std::byte{0x5a};
    out[i] = b;
    prev = b;
  }
  return out;
}

std::vector<std::byte> payload(const Context& ctx, std::size_t size, std::uint64_t salt) {
  return pattern(std::min<std::size_t>(size, ctx.options.max_frame), salt);
}

std::vector<std::size_t> every_byte(std::size_t total) {
  return std::vector<std::size_t>(total, 1);
}

std::vector<std::size_t> random_splits(std::size_t total, std::size_t max_write,
                                       std::mt19937_64& rng) {
  std::vector<std::size_t> out;
  std::uniform_int_distribution<std::size_t> size(1, std::max<std::size_t>(1, max_write));
  for (std::size_t left = total; left > 0;) {
    const std::size_t n = std::min(left, size(rng));
    out.push_back(n);
    left -= n;
  }
  return out;
}

Result pass() { return {Status::pass, {}}; }
Result skip(std::string why) { return {Status::skip, {std::move(why)}}; }
Result fail(std::vector<std::string> lines) { return {Status::fail, std::move(lines)}; }

Result exchange(Context& ctx, const std::string& what, const SendPlan& plan, const Expect& expect) {
  std::string error;
  const net::UniqueFd fd = connect_server(ctx.endpoint, ctx.options.timeout, error);
  if (!fd) return fail({what, "cannot connect: " + error});
  const Outcome out = transfer(fd.get(), plan, expect, ctx.options.timeout);
  std::vector<std::string> lines = judge(expect, out, ctx.options.timeout);
  if (lines.empty()) return pass();
  lines.insert(lines.begin(), sent_text(plan, out));
  lines.insert(lines.begin(), what);
  return fail(std::move(lines));
}

std::vector<std::string> check_serving(Context& ctx, const std::string& label) {
  const std::vector<std::byte> ping = frame_of(payload(ctx, 16, 7));
  SendPlan plan;
  plan.data = ping;
  plan.shut_wr = true;
  Expect expect;
  expect.echo = ping;
  expect.close = true;
  const Result r =
      exchange(ctx, label + ": a new connection sends one 16-byte frame", plan, expect);
  return r.status == Status::pass ? std::vector<std::string>{} : r.detail;
}

}  // namespace framed::conform
