// Building blocks the cases share: frames, payloads that expose single-byte
// faults, write splits, and "connect, exchange, judge" in one call.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "conform/case.h"
#include "conform/wire.h"

namespace framed::conform {

// The pause between split writes. Long enough that a server polling the
// socket usually sees each write as its own read, short enough that a few
// hundred writes take well under a second.
inline constexpr milliseconds kSplitPause{1};

// Header plus payload.
std::vector<std::byte> frame_of(std::span<const std::byte> payload);
// Appends header plus payload to `stream`.
void append_frame(std::vector<std::byte>& stream, std::span<const std::byte> payload);

// A payload of `size` bytes from a xorshift generator seeded with `salt`.
// No two neighbouring bytes are equal, so a flipped, dropped or repeated byte
// always shows up as a difference at (or right after) its offset.
std::vector<std::byte> pattern(std::size_t size, std::uint64_t salt);

// pattern(), cut to the server's --max-frame: a case about something else
// must not trip the limit on a server whose limit is small.
std::vector<std::byte> payload(const Context& ctx, std::size_t size, std::uint64_t salt);

// One write per byte.
std::vector<std::size_t> every_byte(std::size_t total);
// Random write sizes from 1 to `max_write`, summing to `total`.
std::vector<std::size_t> random_splits(std::size_t total, std::size_t max_write,
                                       std::mt19937_64& rng);

Result pass();
Result skip(std::string why);
Result fail(std::vector<std::string> lines);

// Connects, runs `plan`, and judges the outcome against `expect`. A failure
// starts with `what` (what the case did) and the bytes sent.
Result exchange(Context& ctx, const std::string& what, const SendPlan& plan, const Expect& expect);

// A fresh connection gets one frame echoed: the server is alive and serving.
// Empty when fine, else the failure lines.
std::vector<std::string> check_serving(Context& ctx, const std::string& label);

}  // namespace framed::conform
