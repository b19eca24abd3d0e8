#include "tls/tls_transport.h"

#include "tls/identity.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

namespace framed::tls {

using transport::Flow;
using transport::Socket;
using transport::Wrote;

namespace {

// Decrypted input is handed up in deliveries of at most this much, as the
// plain transports read in chunks of --read-chunk.
constexpr std::size_t kPlainChunk = 64U << 10U;
// Spans smaller than this are gathered into one record with their
// neighbours: a record per 64-byte frame would cost its header, its tag
// and a cipher call each.
constexpr std::size_t kStage = 16U << 10U;

// net::SysError names its failure with a static string; TLS failures are
// few and fixed (OpenSSL's reason strings), so each text is kept once.
const char* intern(const std::string& text) {
  static std::mutex mutex;
  static std::set<std::string> texts;
  const std::lock_guard lock(mutex);
  return texts.insert(text).first->c_str();
}

}  // namespace

struct TlsTransport::Session {
  Socket* socket = nullptr;
  SSL* ssl = nullptr;
  // Ciphertext read but not yet given to OpenSSL: the rest of an input the
  // connection stopped reading in (stash), or the input being pumped (in).
  std::vector<std::byte> stash;
  std::size_t stash_head = 0;
  std::span<const std::byte> in;
  // Follows the plaintext output to find where frames end.
  Decoder plain{0xFFFFFFFFU};
  // Where in the ciphertext stream each batch of ended frames lies: the
  // frames count as sent once the kernel has taken `end` bytes.
  struct Mark {
    std::uint64_t end;
    std::uint64_t frames;
  };
  std::deque<Mark> marks;
  std::uint64_t queued = 0;  // Ciphertext bytes put in the outbox, ever.
  std::uint64_t taken = 0;   // Of those, taken by the kernel.
  // Records the layer writes of its own (the handshake, tickets, alerts,
  // close_notify), as [begin, end) of the ciphertext stream: reported to
  // the connection as no bytes, so that they never count as echoes, nor
  // their acknowledgement as the peer's activity (the idle timeout).
  bool encrypting = false;  // In encrypt(): what OpenSSL writes now is echoes.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> own;
  // Written by the layer's own flushes (readiness: taken at once), not yet
  // reported to the sink: they ride on the next Wrote.
  std::size_t unreported_bytes = 0;
  std::uint64_t unreported_frames = 0;
  bool reading = true;      // The connection wants input.
  bool resuming = false;    // In resume_.
  bool ended = false;       // close_notify queued (end_output).
  bool peer_ended = false;  // The peer's EOF is reported (close_notify, or a FIN).
  // The transport below saw the peer's FIN while input was still held
  // here: the EOF is reported once that input is delivered, never ahead.
  bool fin = false;
  // The connection stopped reading while OpenSSL may still hold whole
  // records it read: cleared once a read wants more from the socket.
  bool held = false;
  bool closed = false;    // close() was called; freed at the turn's end.
  std::size_t index = 0;  // In sessions_.
  // A PROXY header still to pass up in plain text (proxy_first).
  bool proxy = false;
  ProxyParser proxy_parser;

  ~Session() { SSL_free(ssl); }  // Frees the BIO too.

  // Input to deliver without the socket: ciphertext kept here, records
  // OpenSSL read before the connection stopped reading, or a FIN behind
  // them. (Not SSL_has_pending(): it also counts part of a record, which
  // needs the socket, and a layer that resumed on it would spin.)
  [[nodiscard]] bool has_input() const noexcept {
    return stash_head < stash.size() || !in.empty() || held || fin;
  }
};

namespace {

// The BIO between OpenSSL and a session: reads come from the input in
// hand, writes go to the socket's outbox. It never blocks: no input is
// "retry", and the outbox takes everything.
int bio_write(BIO* bio, const char* data, int len) {
  auto* t = static_cast<TlsTransport::Session*>(BIO_get_data(bio));
  if (t == nullptr || t->socket == nullptr || len <= 0) return 0;
  const auto n = static_cast<std::size_t>(len);
  t->socket->out.queue({reinterpret_cast<const std::byte*>(data), n});
  if (!t->encrypting) {
    if (!t->own.empty() && t->own.back().second == t->queued) {
      t->own.back().second += n;
    } else {
      t->own.emplace_back(t->queued, t->queued + n);
    }
  }
  t->queued += n;
  return len;
}

int bio_read(BIO* bio, char* out, int len) {
  auto* t = static_cast<TlsTransport::Session*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (t == nullptr || len <= 0) return 0;
  auto want = static_cast<std::size_t>(len);
  std::size_t got = 0;
  if (t->stash_head < t->stash.size()) {
    const std::size_t n = std::min(want, t->stash.size() - t->stash_head);
    std::memcpy(out, t->stash.data() + t->stash_head, n);
    t->stash_head += n;
    got += n;
    if (t->stash_head == t->stash.size()) {
      t->stash.clear();
      t->stash_head = 0;
    }
  }
  if (got < want && !t->in.empty()) {
    const std::size_t n = std::min(want - got, t->in.size());
    std::memcpy(out + got, t->in.data(), n);
    t->in = t->in.subspan(n);
    got += n;
  }
  if (got == 0) {
    BIO_set_retry_read(bio);
    return -1;
  }
  return static_cast<int>(got);
}

long bio_ctrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  // OpenSSL flushes after each flight; the outbox needs nothing.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

BIO_METHOD* bio_method() {
  // Made once per process; C++ makes the first call's initialisation
  // thread-safe, and the method is never freed (OpenSSL's own are static).
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "framed-outbox");
    if (m != nullptr) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
    }
    return m;
  }();
  return method;
}

}  // namespace

TlsTransport::TlsTransport(std::shared_ptr<const ContextSlot> slot, transport::Sink& sink,
                           bool proxy_first)
    : slot_(std::move(slot)), proxy_first_(proxy_first), sink_(sink) {
  plain_.resize(kPlainChunk);
  stage_.reserve(kStage);
}

TlsTransport::~TlsTransport() = default;

void TlsTransport::set_inner(std::unique_ptr<transport::Transport> inner) {
  inner_ = std::move(inner);
  // The loop sets its between-sockets hook on this object; the transport
  // below is the one that dispatches socket by socket.
  inner_->set_between([this] { between(); });
}

TlsTransport::Session* TlsTransport::of(Socket& s) noexcept {
  return static_cast<Session*>(s.layer);
}

net::SysError TlsTransport::poll(int timeout_ms) {
  // Input kept back and now wanted must not wait for a socket event.
  return inner_->poll(resume_.empty() ? timeout_ms : 0);
}

void TlsTransport::dispatch() {
  inner_->dispatch();
  // Delivered here, outside the transport below's dispatch: the sink may
  // close sockets, and the transport frees those at its next turn's end.
  std::vector<Session*> resume;
  resume.swap(resume_);
  for (Session* t : resume) {
    t->resuming = false;
    if (t->closed || !t->reading) continue;
    pump(*t);
    if (!t->closed) sink_.on_settle(*t->socket);
  }
  closed_.clear();
}

void TlsTransport::on_accepted(Socket& s, const net::Endpoint& peer) {
  auto t = std::make_unique<Session>();
  t->socket = &s;
  t->ssl = slot_->get()->new_session();
  BIO* bio = t->ssl != nullptr ? BIO_new(bio_method()) : nullptr;
  if (bio == nullptr) {
    // Out of memory: refused as the kernel would refuse it, at once.
    ERR_clear_error();
    inner_->close(s);
    return;
  }
  BIO_set_data(bio, t.get());
  BIO_set_init(bio, 1);
  SSL_set_bio(t->ssl, bio, bio);  // The session owns the BIO (one reference).
  s.out.set_opaque();
  s.layer = t.get();
  s.handshaking = true;
  t->proxy = proxy_first_;
  t->index = sessions_.size();
  sessions_.push_back(std::move(t));
  sink_.on_accepted(s, peer);
}

Flow TlsTransport::on_input(Socket& s, std::span<const std::byte> bytes) {
  Session* t = of(s);
  if (t == nullptr) return sink_.on_input(s, bytes);
  if (t->proxy) {
    // The header is the connection's to parse; this parser only finds
    // where it ends. A bad one is passed up whole: the connection's own
    // parser fails on the same byte and closes, saying why.
    const ProxyResult r = t->proxy_parser.feed(bytes);
    const bool done = r.status == ProxyStatus::done;
    const auto header = done ? bytes.first(r.consumed) : bytes;
    bytes = done ? bytes.subspan(r.consumed) : std::span<const std::byte>{};
    if (r.status != ProxyStatus::need_more) t->proxy = false;
    const Flow flow = header.empty() ? Flow::more : sink_.on_input(s, header);
    if (t->closed || bytes.empty()) return flow;
  }
  t->in = bytes;
  const Flow flow = pump(*t);
  if (!t->closed && !t->in.empty()) {
    // The connection stopped reading: keep the rest for when it resumes.
    t->stash.insert(t->stash.end(), t->in.begin(), t->in.end());
    t->in = {};
  }
  return flow;
}

Flow TlsTransport::pump(Session& t) {
  Socket& s = *t.socket;
  // OpenSSL's error queue is the thread's, shared by every connection of
  // this worker, and SSL_get_error() looks at it first: it is left empty
  // after every call. A failure's reason is taken at once (last_error()
  // empties the queue), and a call whose failure is not read (SSL_write_ex
  // in encrypt(), SSL_shutdown) empties it after itself. Emptying it before
  // every read and write as well cost 5% of the CPU of small frames.
  if (s.handshaking && t.ended) {
    // The connection is closing (a drain, a timeout): its handshake is not
    // finished, so no private-key work, and no write after our FIN.
    t.in = {};
    t.stash.clear();
    t.stash_head = 0;
    return Flow::more;
  }
  if (s.handshaking) {
    ERR_clear_error();
    const int r = SSL_do_handshake(t.ssl);
    const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t.ssl, r);
    const std::string why = e == SSL_ERROR_NONE || e == SSL_ERROR_WANT_READ
                                ? std::string()
                                : last_error("the peer closed during it");
    // An alert, if OpenSSL wrote one, goes out before the close.
    if (!flush_own(t)) return Flow::stop;
    if (e == SSL_ERROR_WANT_READ) return end_of_input(t);
    if (e != SSL_ERROR_NONE) {
      fail(t, "TLS handshake failed: " + why);
      return Flow::stop;
    }
    s.handshaking = false;
  }
  std::size_t filled = 0;
  for (;;) {
    if (t.peer_ended) {
      // After close_notify nothing more is read: the rest is discarded.
      t.in = {};
      return Flow::more;
    }
    std::size_t got = 0;
    const int r = SSL_read_ex(t.ssl, plain_.data() + filled, plain_.size() - filled, &got);
    if (r == 1) {
      filled += got;
      if (filled < plain_.size()) continue;
    }
    const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t.ssl, r);
    const bool fatal =
        e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_ZERO_RETURN;
    const std::string why = fatal ? last_error("the peer sent a record that is not TLS") : "";
    // OpenSSL may have written by itself (a key update's answer, an alert).
    if (!flush_own(t)) return Flow::stop;
    if (fatal) {
      // The session is dead: OpenSSL writes nothing more on it, so input
      // decrypted before the bad record could not be echoed either.
      fail(t, "TLS: " + why);
      return Flow::stop;
    }
    if (filled > 0) {
      const Flow flow = sink_.on_input(s, {plain_.data(), filled});
      filled = 0;
      if (t.closed) return Flow::stop;
      if (flow == Flow::stop) {
        // The connection stopped reading: OpenSSL may hold records already
        // read, to deliver once it reads again (has_input()).
        t.held = e == SSL_ERROR_NONE;
        return Flow::stop;
      }
    }
    if (e == SSL_ERROR_NONE) continue;
    if (e == SSL_ERROR_WANT_READ) return end_of_input(t);
    // close_notify: the peer's orderly end of input.
    t.peer_ended = true;
    t.fin = false;
    t.held = false;
    t.in = {};
    sink_.on_eof(s);
    return Flow::more;
  }
}

bool TlsTransport::flush_own(Session& t) {
  if (t.socket->out.empty()) return true;
  const Wrote w = inner_->flush(*t.socket);
  if (!w.error.ok()) {
    ERR_clear_error();
    sink_.on_error(*t.socket, w.error);
    return false;
  }
  const Taken k = taken(t, w.bytes);
  t.unreported_bytes += k.app;
  t.unreported_frames += k.frames;
  return true;
}

TlsTransport::Taken TlsTransport::taken(Session& t, std::size_t bytes) {
  const std::uint64_t from = t.taken;
  t.taken += bytes;
  Taken k;
  k.app = bytes;
  while (!t.own.empty() && t.own.front().first < t.taken) {
    const auto [begin, end] = t.own.front();
    const std::uint64_t lo = std::max(begin, from);
    const std::uint64_t hi = std::min(end, t.taken);
    if (hi > lo) k.app -= static_cast<std::size_t>(hi - lo);
    if (end > t.taken) break;
    t.own.pop_front();
  }
  while (!t.marks.empty() && t.marks.front().end <= t.taken) {
    k.frames += t.marks.front().frames;
    t.marks.pop_front();
  }
  return k;
}

void TlsTransport::fail(Session& t, const std::string& why) {
  ERR_clear_error();
  // -1: not an errno; the text says it all (net::SysError::message()).
  sink_.on_error(*t.socket, net::SysError{intern(why), -1});
}

Flow TlsTransport::end_of_input(Session& t) {
  t.held = false;
  // Everything read is consumed: a FIN that came behind it is the end.
  if (t.fin && t.stash_head == t.stash.size() && t.in.empty()) {
    t.fin = false;
    t.peer_ended = true;
    sink_.on_eof(*t.socket);
  }
  return Flow::more;
}

void TlsTransport::on_eof(Socket& s) {
  Session* t = of(s);
  if (t == nullptr) {
    sink_.on_eof(s);
    return;
  }
  // After close_notify the EOF was reported already. A FIN without one (a
  // truncation) is the end of input too (spec §7.5), but only after the
  // input still held here (backpressure) has been delivered.
  if (t->peer_ended) return;
  if (t->has_input()) {
    t->fin = true;
    return;
  }
  t->peer_ended = true;
  sink_.on_eof(s);
}

void TlsTransport::on_sent(Socket& s, std::size_t bytes, std::uint64_t frames) {
  Session* t = of(s);
  if (t == nullptr) {
    sink_.on_sent(s, bytes, frames);
    return;
  }
  // Always reported, even when every byte was the layer's own: a closing
  // connection moves on when its output (close_notify included) is out.
  const Taken k = taken(*t, bytes);
  sink_.on_sent(s, k.app, k.frames);
}

net::SysError TlsTransport::update(Socket& s, bool want_read) {
  Session* t = of(s);
  if (t != nullptr) {
    t->reading = want_read;
    if (want_read && !t->resuming && t->has_input()) {
      t->resuming = true;
      resume_.push_back(t);
    }
  }
  return inner_->update(s, want_read);
}

bool TlsTransport::encrypt(Session& t, std::span<const std::span<const std::byte>> spans) {
  std::uint64_t frames = 0;
  t.encrypting = true;
  const auto write = [&](std::span<const std::byte> bytes) {
    std::size_t done = 0;
    // The BIO takes everything, so a write fails only on a dead session.
    return SSL_write_ex(t.ssl, bytes.data(), bytes.size(), &done) == 1 && done == bytes.size();
  };
  bool ok = true;
  // Spans that lie end to end (an echo's header and payload, views of the
  // same decrypted input) are written as one: a 64 KiB frame then goes out
  // as four full records, not a 4-byte record and then the payload's.
  const auto put = [&](std::span<const std::byte> run) {
    if (run.size() >= kStage) {
      if (!stage_.empty()) {
        ok = ok && write(stage_);
        stage_.clear();
      }
      ok = ok && write(run);
      return;
    }
    if (stage_.size() + run.size() > kStage) {
      ok = ok && write(stage_);
      stage_.clear();
    }
    stage_.insert(stage_.end(), run.begin(), run.end());
  };
  std::span<const std::byte> run;
  for (const auto span : spans) {
    std::span<const std::byte> rest = span;
    while (!rest.empty()) {
      const DecodeResult r = t.plain.feed(rest);
      if (r.status == DecodeStatus::chunk && r.frame_end) ++frames;
      if (r.status != DecodeStatus::chunk && r.consumed == 0) break;
      rest = rest.subspan(r.consumed);
    }
    if (span.empty()) continue;
    if (!run.empty() && run.data() + run.size() == span.data()) {
      run = {run.data(), run.size() + span.size()};
    } else {
      if (!run.empty()) put(run);
      run = span;
    }
  }
  if (!run.empty()) put(run);
  if (!stage_.empty()) {
    ok = ok && write(stage_);
    stage_.clear();
  }
  t.encrypting = false;
  // A failed write's reason is not read: nothing of it may stay behind for
  // another connection's SSL_get_error().
  if (!ok) ERR_clear_error();
  if (frames > 0) t.marks.push_back({t.queued, frames});
  return ok;
}

Wrote TlsTransport::send(Socket& s, std::span<const std::span<const std::byte>> spans) {
  Session* t = of(s);
  if (t == nullptr) return inner_->send(s, spans);
  if (s.handshaking || t->ended) return {0, 0, {"TLS send before the handshake", EPROTO}};
  if (!encrypt(*t, spans)) return {0, 0, {"SSL_write", EPROTO}};
  return flush(s);
}

void TlsTransport::queue(Socket& s, std::span<const std::byte> bytes) {
  Session* t = of(s);
  if (t == nullptr) {
    inner_->queue(s, bytes);
    return;
  }
  // The connection refuses sends before the handshake and after its end,
  // so a session here can always write; a dead one has failed the socket.
  const std::span<const std::byte> one[1] = {bytes};
  if (!s.handshaking && !t->ended) (void)encrypt(*t, one);
}

Wrote TlsTransport::flush(Socket& s) {
  Session* t = of(s);
  if (t == nullptr) return inner_->flush(s);
  Wrote w = inner_->flush(s);
  if (!w.error.ok()) return w;
  const Taken k = taken(*t, w.bytes);
  w.frames = k.frames + t->unreported_frames;
  w.bytes = k.app + t->unreported_bytes;
  t->unreported_bytes = 0;
  t->unreported_frames = 0;
  return w;
}

bool TlsTransport::peer_certificate(Socket& s, std::string& subject,
                                    std::vector<std::string>& names) {
  Session* t = of(s);
  if (t == nullptr || s.handshaking) return false;
  return verified_peer(t->ssl, subject, names);
}

void TlsTransport::end_output(Socket& s) {
  Session* t = of(s);
  if (t == nullptr || t->ended) return;
  t->ended = true;
  // A handshake still under way is abandoned: no close_notify (there is no
  // session to end), and pump() does no more handshake work for it.
  if (s.handshaking) return;
  // Queues close_notify (SSL_shutdown returns 0: sent, the peer's not yet
  // seen). It goes out with the next flush, before the FIN.
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  ERR_clear_error();
}

void TlsTransport::close(Socket& s) {
  Session* t = of(s);
  if (t != nullptr) {
    t->closed = true;
    t->socket = nullptr;
    BIO* bio = SSL_get_rbio(t->ssl);
    if (bio != nullptr) BIO_set_data(bio, nullptr);
    s.layer = nullptr;
    // Never resumed again: the list would outlive the session.
    if (t->resuming) {
      std::erase(resume_, t);
      t->resuming = false;
    }
    // Swap-remove from the open sessions; freed at the turn's end, so that
    // a pump still holding it sees `closed`.
    const std::size_t i = t->index;
    std::swap(sessions_[i], sessions_.back());
    sessions_[i]->index = i;
    closed_.push_back(std::move(sessions_.back()));
    sessions_.pop_back();
  }
  inner_->close(s);
}

void TlsTransport::finish() {
  inner_->finish();
  resume_.clear();
  closed_.clear();
  sessions_.clear();
}

}  // namespace framed::tls
