// Every frame-level vector of spec/vectors.txt that holds at the server's
// limit, replayed as a wire exchange: whole, one byte per write, and at
// random splits. A vector ending in frame_too_large checks the limit (§3):
// the earlier frames come back, then the server closes on its own. Any other
// vector is sent and followed by a half-close: its complete frames come back
// (§4, §6.1), a truncated tail may come back as it arrived (§6.3), then the
// server closes.
#include <memory>

#include "conform/case.h"
#include "conform/steps.h"
#include "conform/vectors.h"

namespace framed::conform {
namespace {

enum class Mode { whole, every_byte, random };

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::whole: return "whole";
    case Mode::every_byte: return "every-byte";
    case Mode::random: return "random-split";
  }
  return "?";
}

const char* section_for(const WireVector& v) {
  switch (v.end) {
    case DecodeError::frame_too_large: return "3";
    case DecodeError::truncated_header:
    case DecodeError::truncated_payload: return "6.3";
    default: return "4";
  }
}

Result run_vector(Context& ctx, const WireVector& v, Mode mode) {
  const std::size_t whole = complete_prefix(v);
  SendPlan plan;
  plan.data = v.input;
  Expect expect;
  expect.echo.assign(v.input.begin(), v.input.begin() + static_cast<std::ptrdiff_t>(whole));
  expect.close = true;
  if (v.end != DecodeError::frame_too_large) {
    // The server is told the stream ended; it must not have to guess.
    plan.shut_wr = true;
    expect.tolerated.assign(v.input.begin() + static_cast<std::ptrdiff_t>(whole), v.input.end());
  }
  std::mt19937_64 rng(ctx.seed);
  std::string how = "whole";
  if (mode == Mode::every_byte) {
    plan.writes = every_byte(v.input.size());
    plan.pause = kSplitPause;
    how = "one byte per write";
  } else if (mode == Mode::random) {
    plan.writes = random_splits(v.input.size(), 5, rng);
    plan.pause = kSplitPause;
    how = "at random splits (seed " + std::to_string(ctx.seed) + ")";
  }
  return exchange(ctx, "vector [" + v.name + "] sent " + how, plan, expect);
}

}  // namespace

void add_vector_cases(CaseList& cases, const Options& options) {
  std::string error;
  auto vectors =
      std::make_shared<std::vector<WireVector>>(parse_vectors(embedded_vectors_text(), error));
  if (!error.empty()) {
    // The build embeds the spec's file, so this is a broken build: say so
    // as a failing case rather than silently testing less.
    cases.push_back({"4-vectors-embedded", "the embedded spec/vectors.txt parses", false,
                     [error](Context&) { return fail({"spec/vectors.txt: " + error}); }});
  }
  for (std::size_t i = 0; i < vectors->size(); ++i) {
    const WireVector& v = (*vectors)[i];
    // A vector written for another limit says nothing about this server.
    if (!applies_at(v, options.max_frame)) continue;
    for (Mode mode : {Mode::whole, Mode::every_byte, Mode::random}) {
      Case c;
      c.id = std::string(section_for(v)) + "-vector-" + v.name + "-" + mode_name(mode);
      for (char& ch : c.id) {
        if (ch == '_') ch = '-';
      }
      c.summary =
          "spec/vectors.txt [" + v.name + "] sent " + mode_name(mode) +
          (v.end == DecodeError::frame_too_large ? ": earlier frames echoed, then a close"
                                                 : ", half-closed: frames echoed, then a close");
      c.run = [vectors, i, mode](Context& ctx) { return run_vector(ctx, (*vectors)[i], mode); };
      cases.push_back(std::move(c));
    }
  }
}

}  // namespace framed::conform
