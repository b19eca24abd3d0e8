// Compiled twice by tests/compile/check.cmake: as is it must compile, and
// with WRONG_CALLBACK defined it must not (a ChunkHandler cannot take
// whole frames, nor a FrameHandler chunks: the other callback is final).
#include "framed/server.h"

struct Chunks final : framed::ChunkHandler {
  void on_chunk(framed::Connection& /*c*/, const framed::Chunk& /*chunk*/) override {}
#ifdef WRONG_CALLBACK
  void on_frame(framed::Connection& /*c*/, std::span<const std::byte> /*payload*/) override {}
#endif
};

struct Frames final : framed::FrameHandler {
  void on_frame(framed::Connection& /*c*/, std::span<const std::byte> /*payload*/) override {}
#ifdef WRONG_CALLBACK
  void on_chunk(framed::Connection& /*c*/, const framed::Chunk& /*chunk*/) override {}
#endif
};

int main() {
  Chunks c;
  Frames f;
  return c.delivery() == framed::Delivery::chunks && f.delivery() == framed::Delivery::frames ? 0
                                                                                              : 1;
}
