// The simulator's oracle: spec/PROTOCOL.md §6 and nothing else, as pure
// functions of what a peer sent and how far the server consumed it.
//
// For a frame stream F sent by a peer, the server owes:
//   chunks echo  F[0:x]: every complete frame, the frame in progress as far
//                as it was consumed (§6.1, streamed), minus the 1 to 3 bytes
//                of a header not yet validated unless the input ended
//                there (§6.3: held back until EOF);
//   frames echo  every complete frame of F[0:x] (a partial one is dropped);
//   a reply      one reply frame per complete frame of F[0:x];
// where x is the bytes the server consumed before its close began, cut at
// the first oversize header (never echoed, nor anything after it: §6.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace framed::sim {

// What the simulated server runs.
enum class Service : std::uint8_t {
  echo_chunks,  // framed-server's echo (Delivery::chunks).
  echo_frames,  // An echo of whole frames (Delivery::frames).
  big_reply,    // Each frame answered with one reply frame (often larger).
};

// The offset of the first header announcing more than `max_frame`, or
// SIZE_MAX if every complete header is within it.
std::size_t oversize_at(std::span<const std::byte> frames, std::uint32_t max_frame);

// The end of the last complete frame within frames[0:x].
std::size_t last_frame_end(std::span<const std::byte> frames, std::size_t x);

// Where frames[0:x] stops being echoed while the input is still open: the
// start of a header of which only 1 to 3 bytes lie within x, else x.
std::size_t held_header_cut(std::span<const std::byte> frames, std::size_t x);

// The exact bytes the server owes, as above. `at_eof`: the server took the
// peer's EOF before its close began. `reply`: the reply frame (big_reply).
std::vector<std::byte> owed(std::span<const std::byte> frames, std::size_t consumed, bool at_eof,
                            Service service, std::uint32_t max_frame,
                            std::span<const std::byte> reply);

}  // namespace framed::sim
