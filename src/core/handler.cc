// framed::Handler's defaults for the delivery callbacks. They run only when
// a handler derived from Handler directly (not FrameHandler or
// ChunkHandler) chose a delivery in delivery() and did not override its
// callback: its input would vanish without a word, so the log says it.
#include <string>

#include "framed/server.h"
#include "util/log.h"

namespace framed {
namespace {

void log_mismatch(bool& logged, const char* delivery, const char* callback) {
  if (logged) return;
  logged = true;
  util::log(util::LogLevel::error,
            std::string("the handler's delivery() is ") + delivery + " but it does not override " +
                callback + ": its input is dropped (derive from FrameHandler or ChunkHandler, " +
                "and the compiler checks this)");
}

}  // namespace

void Handler::on_chunk(Connection& /*c*/, const Chunk& /*chunk*/) {
  log_mismatch(mismatch_logged_, "Delivery::chunks", "on_chunk");
}

void Handler::on_frame(Connection& /*c*/, std::span<const std::byte> /*payload*/) {
  log_mismatch(mismatch_logged_, "Delivery::frames", "on_frame");
}

}  // namespace framed
