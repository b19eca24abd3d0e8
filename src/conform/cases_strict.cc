// Behaviour the spec recommends and a minimal echo server may lack; these run
// only with --strict: idle timeout (§6.4), frame timeout against a slowloris
// peer (§6.5), the connection limit (§6.6), and serving others while one
// client never reads (backpressure, §6.1).
#include <poll.h>

#include <algorithm>
#include <thread>

#include "conform/case.h"
#include "conform/steps.h"
#include "conform/verdict.h"

namespace framed::conform {
namespace {

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

Result idle_timeout(Context& ctx) {
  const milliseconds idle = ctx.options.idle_timeout;
  if (idle.count() == 0) return skip("--idle-timeout 0: the server has none");
  std::string error;
  const net::UniqueFd fd = connect_server(ctx.endpoint, ctx.options.timeout, error);
  if (!fd) return fail({"cannot connect: " + error});
  const Outcome out = wait_for_close(fd.get(), idle + ctx.options.timeout);
  if (out.closed() && out.received.empty()) return pass();
  return fail({"a connection that sends nothing",
               "expected a close within --idle-timeout + --timeout (" +
                   ms_text(idle + ctx.options.timeout) + ")",
               "received " + size_text(out.received.size()) +
                   (out.closed() ? ", then a close" : ", and the connection stayed open")});
}

// Sends a frame one byte at a time, each byte well inside the idle timeout,
// so only the frame timeout can cut it.
Result frame_timeout(Context& ctx) {
  const milliseconds frame = ctx.options.frame_timeout;
  if (frame.count() == 0) return skip("--frame-timeout 0: the server has none");
  const milliseconds idle = ctx.options.idle_timeout;
  const milliseconds shortest = idle.count() > 0 ? std::min(idle, frame) : frame;
  const milliseconds interval = std::max(milliseconds(10), shortest / 4);
  std::string error;
  const net::UniqueFd fd = connect_server(ctx.endpoint, ctx.options.timeout, error);
  if (!fd) return fail({"cannot connect: " + error});
  if (ctx.options.max_frame < 2) return skip("needs --max-frame of at least 2 B");
  const auto data = frame_of(payload(ctx, 100'000, 9));
  const auto limit = Clock::now() + frame + ctx.options.timeout;
  std::vector<std::byte> received;
  std::size_t sent = 0;
  // Bounded by `limit`: each round waits at most `interval`.
  while (Clock::now() < limit) {
    const net::IoResult w = net::write_some(fd.get(), std::span(data).subspan(sent, 1));
    if (!w.error.ok()) return pass();  // The server closed: EPIPE or a reset.
    sent += w.bytes;
    if ((wait_for(fd.get(), POLLIN, interval) & (POLLIN | POLLHUP | POLLERR)) != 0) {
      std::byte buf[4096];
      const net::IoResult r = net::read_some(fd.get(), buf);
      if (r.eof || !r.error.ok()) return pass();
      received.insert(received.end(), buf, buf + r.bytes);
      if (!std::equal(received.begin(), received.end(), data.begin())) {
        return fail({"a frame sent one byte every " + ms_text(interval),
                     "received bytes that were not sent: " + hex(received)});
      }
    }
  }
  return fail({"a frame of 100000 B sent one byte every " + ms_text(interval) + " (" +
                   std::to_string(sent) + " B sent)",
               "expected a close within --frame-timeout + --timeout (" +
                   ms_text(frame + ctx.options.timeout) + ")",
               "the connection stayed open"});
}

// Fills one connection without ever reading it, then checks another is
// served. Returns the bytes written before the socket refused more.
std::size_t fill_without_reading(const Context& ctx, int fd, milliseconds stall) {
  const auto chunk = frame_of(payload(ctx, 60'000, 10));
  std::size_t total = 0;
  std::size_t offset = 0;
  // Bounded: 256 MiB at most, and each round either writes or ends.
  while (total < (256U << 20U)) {
    if ((wait_for(fd, POLLOUT, stall) & POLLOUT) == 0) break;
    const net::IoResult w = net::write_some(fd, std::span(chunk).subspan(offset));
    if (!w.error.ok() || (w.bytes == 0 && !w.would_block)) break;
    total += w.bytes;
    offset = (offset + w.bytes) % chunk.size();
  }
  return total;
}

Result slow_reader(Context& ctx) {
  std::string error;
  const net::UniqueFd stuck = connect_server(ctx.endpoint, ctx.options.timeout, error);
  if (!stuck) return fail({"cannot connect: " + error});
  const std::size_t filled = fill_without_reading(ctx, stuck.get(), milliseconds(300));
  auto lines = check_serving(
      ctx, "while another connection has " + size_text(filled) + " unread and its socket full");
  return lines.empty() ? pass() : fail(lines);
}

Result connection_limit(Context& ctx) {
  const std::uint32_t n = ctx.options.max_conns;
  if (n == 0) return skip("give --max-conns N to check the connection limit");
  if (n > 500) return skip("--max-conns above 500: too many connections to open here");
  std::vector<net::UniqueFd> held;
  const auto ping = frame_of(payload(ctx, 8, 11));
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string error;
    net::UniqueFd fd = connect_server(ctx.endpoint, ctx.options.timeout, error);
    if (!fd)
      return fail({"connection " + std::to_string(i + 1) + " of " + std::to_string(n), error});
    SendPlan plan;
    plan.data = ping;
    Expect expect;
    expect.echo = ping;
    const Outcome out = transfer(fd.get(), plan, expect, ctx.options.timeout);
    if (auto lines = judge(expect, out, ctx.options.timeout); !lines.empty()) {
      lines.insert(lines.begin(), "connection " + std::to_string(i + 1) + " of --max-conns " +
                                      std::to_string(n) + ": one 8 B frame");
      return fail(lines);
    }
    held.push_back(std::move(fd));
  }
  std::string error;
  const net::UniqueFd extra = connect_server(ctx.endpoint, ctx.options.timeout, error);
  if (extra) {
    SendPlan plan;
    plan.data = ping;
    Expect refused;
    refused.close = true;
    const Outcome out = transfer(extra.get(), plan, refused, ctx.options.timeout);
    if (auto lines = judge(refused, out, ctx.options.timeout); !lines.empty()) {
      lines.insert(lines.begin(), "connection " + std::to_string(n + 1) +
                                      " (one above --max-conns): expected a close, no echo");
      return fail(lines);
    }
  }
  held.pop_back();
  // The server notices the freed slot when it reads our FIN; retry briefly.
  const auto deadline = Clock::now() + ctx.options.timeout;
  std::vector<std::string> last;
  while (Clock::now() < deadline) {
    last = check_serving(ctx, "after one of the " + std::to_string(n) + " connections closed");
    if (last.empty()) return pass();
    std::this_thread::sleep_for(milliseconds(50));
  }
  return fail(last);
}

}  // namespace

void add_strict_cases(CaseList& cases, const Options&) {
  cases.push_back({"6.1-slow-reader-others-served",
                   "while one client never reads, another is still served", true, slow_reader});
  cases.push_back({"6.4-idle-timeout", "a silent connection is closed after --idle-timeout", true,
                   idle_timeout});
  cases.push_back({"6.5-frame-timeout-slowloris",
                   "a frame trickling in a byte at a time is cut after --frame-timeout", true,
                   frame_timeout});
  cases.push_back({"6.6-connection-limit",
                   "--max-conns connections served, one more closed, served again after a close",
                   true, connection_limit});
}

}  // namespace framed::conform
