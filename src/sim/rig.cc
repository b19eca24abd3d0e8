#include "sim/rig.h"

#include "server/echo_handler.h"
#include "tls/layer.h"
#include "util/log.h"

namespace framed::sim {
namespace {

void collect(util::LogLevel level, std::string_view message, void* context) {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error", "off"};
  auto& lines = *static_cast<std::vector<std::string>*>(context);
  lines.push_back(std::string(kNames[static_cast<int>(level)]) + " " + std::string(message));
}

}  // namespace

Rig::Rig(const ServerOptions& config, Rng* rng, SimOptions sim, const HandlerFactory& make)
    : config_(config), limit_(config.max_conns, config.max_conns_per_ip) {
  util::set_log_sink(&collect, &log_);
  util::set_log_level(config.log_level);
  worker_ = std::make_unique<server::Worker>(0, config_, clock_, limit_);
  sim.read_chunk = config_.read_chunk;
  std::string error;
  // TLS, when the options ask for it, as the server has it: a layer over
  // the (simulated) transport.
  std::shared_ptr<tls::ContextSlot> tls;
  if (config_.tls.enabled()) {
    tls = tls::make_slot(config_.tls, error);
    if (!tls) {
      log_.push_back("error " + error);
      return;
    }
  }
  const bool ok = worker_->init(
      [&](transport::Sink& sink, std::string& why) -> std::unique_ptr<transport::Transport> {
        const auto plain = [&](transport::Sink& below, std::string&) {
          auto t = std::make_unique<SimTransport>(below, clock_, rng, sim);
          net_ = t.get();
          return std::unique_ptr<transport::Transport>(std::move(t));
        };
        if (tls) return tls::make_layer(tls, sink, plain, config_.proxy_protocol, why);
        return plain(sink, why);
      },
      net::UniqueFd(), error);
  if (!ok) return;
  // Made once the loop exists, as Runtime does: it may set timers.
  auto handler = make ? make(*worker_) : std::make_unique<server::EchoHandler>();
  worker_->set_handler(std::move(handler));
  net_->listen();
  (void)worker_->start();
}

Rig::~Rig() {
  worker_.reset();
  util::set_log_sink(nullptr, nullptr);
}

bool Rig::turn() {
  if (done_) return false;
  if (!worker_->turn(rc_)) {
    done_ = true;
    worker_->teardown();
    return false;
  }
  return true;
}

loop::TimePoint Rig::next_timer() noexcept { return worker_->event_loop().timers().next(); }

void Rig::settle() {
  // Bounded: a loop that never settles is a bug the caller should see as a
  // failed expectation, not a hung test.
  for (int i = 0; i < 10'000 && !done_; ++i) {
    if (!turn()) return;
    if (!net_->ready() && next_timer() > clock_.now()) return;
  }
}

void Rig::advance(loop::Duration d) {
  const loop::TimePoint target = clock_.now() + d;
  for (int i = 0; i < 100'000 && !done_; ++i) {
    settle();
    const loop::TimePoint next = next_timer();
    if (next > target) break;
    clock_.advance_to(next);
  }
  clock_.advance_to(target);
  settle();
}

void Rig::begin_shutdown() {
  worker_->begin_shutdown(clock_.now() + config_.drain_timeout);
  settle();
}

std::vector<std::string> Rig::take_log() {
  std::vector<std::string> out;
  out.swap(log_);
  return out;
}

bool Rig::logged(const std::string& needle) const {
  for (const auto& line : log_) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

void Rig::deliver_all() {
  for (std::size_t id = 0; id < net_->conn_count(); ++id) net_->deliver(id);
}

std::vector<std::byte> Rig::read_all(std::size_t id) {
  std::vector<std::byte> out;
  for (int i = 0; i < 1000; ++i) {
    net_->deliver(id);
    if (net_->peer_recv(id, out, SIZE_MAX) == 0) break;
  }
  return out;
}

}  // namespace framed::sim
