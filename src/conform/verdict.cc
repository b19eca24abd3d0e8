#include "conform/verdict.h"

#include <algorithm>
#include <cstdio>

namespace framed::conform {
namespace {

constexpr std::size_t kAround = 8;  // Bytes shown on each side of a difference.

std::string how_it_ended(const Outcome& out, milliseconds timeout) {
  if (out.eof) return ", then the server closed";
  if (!out.read_error.empty()) return ", then " + out.read_error;
  if (out.timed_out) return ", then nothing for " + std::to_string(timeout.count()) + " ms";
  if (out.diverged) return " (stopped reading at the first unexpected byte)";
  return "";
}

std::string window(std::span<const std::byte> bytes, std::size_t at) {
  const std::size_t from = at > kAround ? at - kAround : 0;
  const std::size_t to = std::min(bytes.size(), at + kAround);
  // snprintf and append rather than chained operator+: gcc 12 at -O3 reports
  // a false -Wrestrict on the latter (the release preset builds with -Werror).
  char range[64];
  std::snprintf(range, sizeof range, "[%zu, %zu): ", from >= to ? at : from, from >= to ? at : to);
  std::string out = range;
  out.append(from >= to ? std::string("(none)") : hex(bytes.subspan(from, to - from), 2 * kAround));
  return out;
}

std::string byte_text(std::byte b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(b));
  return buf;
}

}  // namespace

std::string hex(std::span<const std::byte> bytes, std::size_t max) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  const std::size_t n = std::min(bytes.size(), max);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && i % 4 == 0) s.push_back(' ');
    const auto v = static_cast<unsigned>(bytes[i]);
    s.push_back(kDigits[v >> 4U]);
    s.push_back(kDigits[v & 15U]);
  }
  if (bytes.size() > n) s += " ...";
  if (bytes.empty()) s = "(none)";
  return s;
}

std::string size_text(std::size_t bytes) {
  std::string s = std::to_string(bytes) + " B";
  constexpr std::size_t kMiB = std::size_t{1} << 20U;
  if (bytes >= kMiB && bytes % kMiB == 0) {
    s += " (" + std::to_string(bytes / kMiB) + " MiB)";
  } else if (bytes >= 1024 && bytes % 1024 == 0) {
    s += " (" + std::to_string(bytes / 1024) + " KiB)";
  }
  return s;
}

std::string sent_text(const SendPlan& plan, const Outcome& out) {
  std::string s = "sent " + size_text(out.sent);
  if (out.sent < plan.data.size()) s += " of " + size_text(plan.data.size());
  s += " in " + std::to_string(out.writes) + " write(s)";
  if (plan.shut_wr && out.sent == plan.data.size()) s += ", then shut down writing";
  if (!out.write_error.empty()) s += " (write failed: " + out.write_error + ")";
  return s + ": " + hex(plan.data);
}

std::vector<std::string> judge(const Expect& expect, const Outcome& out, milliseconds timeout) {
  const std::vector<std::byte>& got = out.received;
  // The first received byte that is neither echo nor an allowed partial.
  std::size_t bad = got.size();
  for (std::size_t i = 0; i < got.size(); ++i) {
    const std::size_t n = expect.echo.size();
    if (i >= n + expect.tolerated.size() ||
        got[i] != (i < n ? expect.echo[i] : expect.tolerated[i - n])) {
      bad = i;
      break;
    }
  }
  const bool complete = bad == got.size() && got.size() >= expect.echo.size();
  const bool close_ok = !expect.close || out.closed();
  if (complete && close_ok) return {};

  std::vector<std::string> lines;
  std::string want = expect.echo.empty() ? "expected no echo"
                                         : "expected " + size_text(expect.echo.size()) + " echoed";
  if (!expect.tolerated.empty()) {
    want += " (then at most " + size_text(expect.tolerated.size()) + " of the partial frame)";
  }
  if (expect.close) want += ", then a close";
  lines.push_back(want);
  lines.push_back("received " + size_text(got.size()) + how_it_ended(out, timeout));
  if (bad < got.size()) {
    const std::size_t n = expect.echo.size();
    if (bad >= n + expect.tolerated.size()) {
      lines.push_back("unexpected bytes from offset " + std::to_string(bad) + ": " +
                      hex(std::span(got).subspan(bad), 16));
    } else {
      const std::byte want_byte = bad < n ? expect.echo[bad] : expect.tolerated[bad - n];
      lines.push_back("first difference at offset " + std::to_string(bad) + ": expected " +
                      byte_text(want_byte) + ", received " + byte_text(got[bad]));
      std::vector<std::byte> allowed = expect.echo;
      allowed.insert(allowed.end(), expect.tolerated.begin(), expect.tolerated.end());
      lines.push_back("  expected " + window(allowed, bad));
      lines.push_back("  received " + window(got, bad));
    }
  } else if (got.size() < expect.echo.size()) {
    lines.push_back("missing from offset " + std::to_string(got.size()) + ": " +
                    hex(std::span(expect.echo).subspan(got.size()), 16));
  } else {
    lines.push_back(expect.echo.empty() ? "the server did not close"
                                        : "the echo was complete but the server did not close");
  }
  return lines;
}

}  // namespace framed::conform
