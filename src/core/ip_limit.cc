#include "core/ip_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace framed::core {
namespace {

constexpr auto kLogInterval = std::chrono::seconds(1);

void set_v4(IpKey& out, const std::uint8_t* four) noexcept {
  out.bytes = {};
  out.bytes[10] = 0xff;
  out.bytes[11] = 0xff;
  std::memcpy(out.bytes.data() + 12, four, 4);
  out.v6 = false;
}

void set_v6(IpKey& out, const std::uint8_t* sixteen) noexcept {
  // An IPv4-mapped address is the IPv4 client it names (a dual-stack
  // listener sees IPv4 clients so).
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(sixteen, kMapped, sizeof kMapped) == 0) {
    set_v4(out, sixteen + 12);
    return;
  }
  out.bytes = {};
  std::memcpy(out.bytes.data(), sixteen, 8);  // The /64.
  out.v6 = true;
}

}  // namespace

bool IpKey::of(const net::Endpoint& peer, IpKey& out) noexcept {
  if (peer.addr.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&peer.addr);
    set_v4(out, reinterpret_cast<const std::uint8_t*>(&sin->sin_addr));
    return true;
  }
  if (peer.addr.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&peer.addr);
    set_v6(out, reinterpret_cast<const std::uint8_t*>(&sin6->sin6_addr));
    return true;
  }
  return false;
}

bool IpKey::of(const ProxyHeader& header, IpKey& out) noexcept {
  if (!header.has_addresses()) return false;
  if (header.family == ProxyFamily::tcp4) {
    set_v4(out, header.source.bytes.data());
  } else {
    set_v6(out, header.source.bytes.data());
  }
  return true;
}

std::string IpKey::text() const {
  char host[INET6_ADDRSTRLEN] = "?";
  if (!v6) {
    inet_ntop(AF_INET, bytes.data() + 12, host, sizeof host);
    return host;
  }
  inet_ntop(AF_INET6, bytes.data(), host, sizeof host);
  return std::string(host) + "/64";
}

std::size_t IpLimit::Hash::operator()(const IpKey& k) const noexcept {
  // FNV-1a over the 16 bytes: keys are few and short-lived, and a peer
  // cannot choose many of them (each costs it a connection).
  std::uint64_t h = 1469598103934665603ULL;
  for (const std::uint8_t b : k.bytes) {
    h ^= b;
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h ^ (h >> 32U));
}

IpLimit::IpLimit(std::size_t max) : max_(max), shards_(new Shard[kShards]) {}

IpLimit::Refusal IpLimit::try_reserve(const IpKey& key, TimePoint now) {
  if (max_ == 0) return {};
  Shard& s = shard(key);
  const std::lock_guard lock(s.mutex);
  Entry& e = s.entries[key];
  if (e.open < max_) {
    ++e.open;
    return {};
  }
  Refusal r;
  r.refused = true;
  ++e.unlogged;
  if (!e.logged || now - e.last_log >= kLogInterval) {
    r.log = true;
    r.unlogged = e.unlogged;
    e.logged = true;
    e.last_log = now;
    e.unlogged = 0;
  }
  return r;
}

void IpLimit::release(const IpKey& key) noexcept {
  if (max_ == 0) return;
  Shard& s = shard(key);
  const std::lock_guard lock(s.mutex);
  const auto it = s.entries.find(key);
  if (it == s.entries.end()) return;
  if (--it->second.open == 0) s.entries.erase(it);
}

std::size_t IpLimit::count(const IpKey& key) const {
  if (max_ == 0) return 0;
  Shard& s = shard(key);
  const std::lock_guard lock(s.mutex);
  const auto it = s.entries.find(key);
  return it == s.entries.end() ? 0 : it->second.open;
}

std::size_t IpLimit::addresses() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    const std::lock_guard lock(shards_[i].mutex);
    n += shards_[i].entries.size();
  }
  return n;
}

}  // namespace framed::core
