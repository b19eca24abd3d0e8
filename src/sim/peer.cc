#include "sim/peer.h"

#include <algorithm>
#include <cstring>

#include "framed/encoder.h"

namespace framed::sim {
namespace {

using std::chrono::milliseconds;

void append(std::vector<std::byte>& out, const std::string& text) {
  for (const char ch : text) out.push_back(static_cast<std::byte>(ch));
}

}  // namespace

std::vector<std::byte> draw_proxy_header(Rng& rng, std::size_t index) {
  std::vector<std::byte> h;
  const auto port = static_cast<std::uint16_t>(20000 + index % 40000);
  const int kind = static_cast<int>(rng.below(10));
  if (kind < 4) {
    append(h, "PROXY TCP4 10.0." + std::to_string(index % 250) + "." +
                  std::to_string(1 + index % 200) + " 127.0.0.1 " + std::to_string(port) +
                  " 7777\r\n");
  } else if (kind < 8) {
    static constexpr unsigned char kSig[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                             0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    for (const unsigned char b : kSig) h.push_back(std::byte{b});
    const bool local = kind == 7;
    h.push_back(std::byte{static_cast<unsigned char>(local ? 0x20 : 0x21)});
    h.push_back(std::byte{0x11});  // TCP over IPv4.
    h.push_back(std::byte{0});
    h.push_back(std::byte{12});
    const unsigned char addrs[12] = {10,
                                     0,
                                     static_cast<unsigned char>(index % 250),
                                     static_cast<unsigned char>(1 + index % 200),
                                     127,
                                     0,
                                     0,
                                     1,
                                     static_cast<unsigned char>(port >> 8U),
                                     static_cast<unsigned char>(port & 0xFFU),
                                     0x1E,
                                     0x61};
    for (const unsigned char b : addrs) h.push_back(std::byte{b});
  } else if (kind == 8) {
    append(h, "PROXY TCP4 10.0.0.1 10.0.0.2 99999 1\r\n");  // Bad port.
  } else {
    append(h, "GET / HTTP/1.1\r\n");  // Not a PROXY header at all.
  }
  return h;
}

Script draw_script(Rng& rng, const ServerOptions& config, std::size_t budget) {
  Script s;
  s.start = milliseconds(rng.range(0, 3000));
  const std::uint32_t limit = config.max_frame;
  const std::size_t frames = rng.below(12);
  for (std::size_t i = 0; i < frames && s.frames.size() < budget; ++i) {
    std::size_t size = rng.size(64, std::min<std::size_t>(96U << 10U, budget));
    if (rng.chance(0.1)) size = 0;
    if (rng.chance(0.05)) size = limit;  // At the edge.
    size = std::min<std::size_t>(size, limit);
    size = std::min<std::size_t>(size, budget);  // Keep runs short.
    std::vector<std::byte> payload(size);
    for (std::size_t k = 0; k < size; ++k) payload[k] = static_cast<std::byte>(rng.next());
    (void)append_frame(s.frames, payload);
  }
  if (limit < 0xFFFFFFFFU && rng.chance(0.1)) {
    // One past the limit, then whatever follows it: never echoed.
    const auto h = encode_header(limit + 1);
    s.frames.insert(s.frames.end(), h.begin(), h.end());
    for (std::size_t k = rng.below(200); k > 0; --k)
      s.frames.push_back(static_cast<std::byte>(rng.next()));
  } else if (!s.frames.empty() && rng.chance(0.15)) {
    // Cut short, anywhere (a partial header included).
    s.frames.resize(rng.below(s.frames.size()));
  }
  const int r = static_cast<int>(rng.below(10));
  s.reader = r < 6 ? Reader::steady : r < 8 ? Reader::slow : r < 9 ? Reader::stops : Reader::never;
  s.read_piece = static_cast<std::size_t>(rng.range(1, 16U << 10U));
  s.stop_after = rng.below(s.frames.size() + 1);
  const int e = static_cast<int>(rng.below(10));
  s.ending = e < 6 ? Ending::half_close : e < 8 ? Ending::reset : Ending::idle;
  if (s.ending == Ending::reset) s.reset_at = rng.below(s.frames.size() + 1);
  s.write_piece = rng.chance(0.3) ? static_cast<std::size_t>(rng.range(1, 16))
                                  : static_cast<std::size_t>(rng.range(1, 128U << 10U));
  s.write_gap = milliseconds(rng.chance(0.5) ? 0 : rng.range(0, 400));
  s.read_gap = milliseconds(rng.range(0, s.reader == Reader::slow ? 500 : 50));
  return s;
}

std::string describe(const Script& s) {
  static constexpr const char* kReaders[] = {"steady", "slow", "stops", "never"};
  static constexpr const char* kEndings[] = {"half-close", "reset", "idle"};
  return std::string("reader ") + kReaders[static_cast<int>(s.reader)] + ", ending " +
         kEndings[static_cast<int>(s.ending)] + ", " + std::to_string(s.frames.size()) +
         " stream bytes" + (s.header.empty() ? "" : ", header " + std::to_string(s.header.size())) +
         ", writes up to " + std::to_string(s.write_piece);
}

Peer::Peer(std::size_t index, Script script, loop::TimePoint at)
    : index_(index), script_(std::move(script)), next_(at) {
  stream_ = script_.header;
  stream_.insert(stream_.end(), script_.frames.begin(), script_.frames.end());
}

void Peer::start(loop::TimePoint now, SimTransport& net, std::vector<std::string>& trace) {
  started_ = true;
  conn_ = net.connect();
  next_write_ = now;
  next_read_ = now;
  trace.push_back("peer " + std::to_string(index_) + " connects as conn " + std::to_string(conn_) +
                  " (" + describe(script_) + ")");
}

void Peer::write(SimTransport& net, Rng& rng, std::vector<std::string>& trace) {
  if (ended_) return;
  const std::size_t end =
      script_.ending == Ending::reset ? std::min(script_.reset_at, stream_.size()) : stream_.size();
  if (sent_ < end) {
    const std::size_t piece =
        std::min(end - sent_, static_cast<std::size_t>(rng.range(1, script_.write_piece)));
    sent_ += net.peer_send(conn_, std::span(stream_).subspan(sent_, piece));
  }
  if (sent_ < end) return;
  ended_ = true;
  if (script_.ending == Ending::half_close) {
    net.peer_shutdown(conn_);
  } else if (script_.ending == Ending::reset) {
    net.peer_reset(conn_);
    reset_ = true;
    finished_ = true;
    trace.push_back("peer " + std::to_string(index_) + " resets after " + std::to_string(sent_));
  }
}

void Peer::read(SimTransport& net, Rng& rng) {
  if (reset_) return;
  std::size_t max = SIZE_MAX;
  switch (script_.reader) {
    case Reader::steady: break;
    case Reader::slow: max = script_.read_piece; break;
    case Reader::stops:
      if (received_.size() >= script_.stop_after) return;
      max = script_.stop_after - received_.size();
      break;
    case Reader::never: return;
  }
  (void)rng;
  net.deliver(conn_);
  (void)net.peer_recv(conn_, received_, max);
  if (net.peer_at_end(conn_)) {
    finished_ = true;
    // A reset that came after the FIN reached the peer's kernel still lets
    // it read everything, then EOF.
    saw_fin_ = net.conn(conn_).fin_delivered && !net.conn(conn_).peer_rst &&
               net.conn(conn_).phase != SimConn::Phase::refused;
  }
}

loop::TimePoint Peer::act(loop::TimePoint now, SimTransport& net, Rng& rng,
                          std::vector<std::string>& trace) {
  if (finished_) return next_ = loop::TimePoint::max();
  if (!started_) {
    if (now < next_) return next_;
    start(now, net, trace);
  }
  const SimConn& c = net.conn(conn_);
  if (c.phase == SimConn::Phase::refused) {
    finished_ = true;
    trace.push_back("peer " + std::to_string(index_) + " refused");
    return next_ = loop::TimePoint::max();
  }
  if (c.phase == SimConn::Phase::no_answer) {
    // A SYN unanswered: retried after a second, as a kernel does.
    if (retry_at_ == loop::TimePoint{}) retry_at_ = now + std::chrono::seconds(1);
    if (now >= retry_at_) {
      net.retry(conn_);
      retry_at_ = now + std::chrono::seconds(1);
    }
    return next_ = retry_at_;
  }
  if (now >= next_write_) {
    write(net, rng, trace);
    next_write_ =
        now + std::chrono::milliseconds(rng.range(
                  0, static_cast<std::uint64_t>(
                         std::chrono::duration_cast<milliseconds>(script_.write_gap).count())));
    if (next_write_ == now) next_write_ = now + std::chrono::microseconds(100);
  }
  if (now >= next_read_ && !finished_) {
    read(net, rng);
    next_read_ =
        now + std::chrono::milliseconds(rng.range(
                  1, 1 + static_cast<std::uint64_t>(
                             std::chrono::duration_cast<milliseconds>(script_.read_gap).count())));
  }
  if (finished_) return next_ = loop::TimePoint::max();
  if (script_.reader == Reader::never || reset_) {
    next_ = ended_ ? loop::TimePoint::max() : next_write_;
    // A peer that never reads still learns of a reset or refusal: its
    // connection simply ends; check now and then.
    if (net.peer_at_end(conn_) || net.conn(conn_).server_closed) {
      if (ended_ || net.conn(conn_).server_rst) finished_ = true;
    }
    if (!finished_ && next_ == loop::TimePoint::max()) next_ = now + std::chrono::seconds(1);
    return finished_ ? (next_ = loop::TimePoint::max()) : next_;
  }
  next_ = ended_ ? next_read_ : std::min(next_write_, next_read_);
  return next_;
}

}  // namespace framed::sim
