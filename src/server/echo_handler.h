// framed-server's service: every frame back, unchanged, as it streams in.
// Chunks view the read buffer and adjacent views merge, so the echo of a
// read is written from that buffer by one sendmsg, with no copy.
#pragma once

#include "framed/server.h"

namespace framed::server {

class EchoHandler final : public ChunkHandler {
 public:
  void on_chunk(Connection& c, const Chunk& chunk) override {
    if (chunk.first) c.send(chunk.header);
    c.send(chunk.payload);
  }

  // The echo stops exactly where the input stopped (spec §6.3): the 1-3
  // header bytes held back while they could still turn out oversize go too.
  void on_end_of_input(Connection& c, std::span<const std::byte> held) override { c.send(held); }
};

}  // namespace framed::server
