// framed::Connection, the handler's view of a connection (framed/server.h):
// each call checks that it comes from the connection's own loop thread,
// then hands over to core::Conn, whose rules live in conn.cc and
// conn_close.cc.
#include <string>

#include "core/conn.h"
#include "framed/encoder.h"
#include "util/log.h"

namespace framed {

namespace {

// A connection used from a thread other than its loop's: refused, loudly,
// before anything is touched (the loop's thread may be using it now).
bool foreign(const Connection& c, const char* call) {
  if (c.loop().on_loop_thread()) return false;
  util::log(util::LogLevel::error,
            std::string(call) + " on connection " + std::to_string(c.id()) +
                " was called from a thread other than its loop's: refused (use Loop::post_to)");
  return true;
}

}  // namespace

ConnectionHandle Connection::handle() const noexcept { return {loop().index(), id()}; }

bool Connection::send(std::span<const std::byte> bytes) {
  if (foreign(*this, "Connection::send")) return false;
  return static_cast<core::Conn&>(*this).send(bytes);
}

bool Connection::send_frame(std::span<const std::byte> payload) {
  if (payload.size() > 0xFFFFFFFFU) return false;
  const auto header = encode_header(static_cast<std::uint32_t>(payload.size()));
  return send(header) && send(payload);
}

std::size_t Connection::pending_bytes() const noexcept {
  return static_cast<const core::Conn&>(*this).pending_bytes();
}

bool Connection::writable() const noexcept {
  return static_cast<const core::Conn&>(*this).writable();
}

void Connection::pause_reading() {
  if (foreign(*this, "Connection::pause_reading")) return;
  static_cast<core::Conn&>(*this).set_reading_paused(true);
}

void Connection::resume_reading() {
  if (foreign(*this, "Connection::resume_reading")) return;
  static_cast<core::Conn&>(*this).set_reading_paused(false);
}

bool Connection::reading_paused() const noexcept {
  return static_cast<const core::Conn&>(*this).reading_paused();
}

void Connection::hold() {
  if (foreign(*this, "Connection::hold")) return;
  static_cast<core::Conn&>(*this).set_held(true);
}

void Connection::release() {
  if (foreign(*this, "Connection::release")) return;
  static_cast<core::Conn&>(*this).set_held(false);
}

void Connection::set_backlog_cap(std::size_t bytes) {
  if (foreign(*this, "Connection::set_backlog_cap")) return;
  static_cast<core::Conn&>(*this).set_backlog_cap(bytes);
}

bool Connection::held() const noexcept { return static_cast<const core::Conn&>(*this).held(); }

void Connection::close(std::string_view why) {
  if (foreign(*this, "Connection::close")) return;
  static_cast<core::Conn&>(*this).request_close(why);
}

}  // namespace framed
