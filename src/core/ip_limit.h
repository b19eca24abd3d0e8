// The per-client connection limit (--max-conns-per-ip), one for every
// worker: how many connections each client address holds, counted exactly
// across workers. An IPv4 address counts alone; an IPv6 address counts with
// its /64, which one host or one site usually holds whole (as nginx's
// limit_conn and HAProxy's stick tables are told to key it). A client
// behind a PROXY header counts by the address the header names.
//
// A lock per shard, taken once when a connection is admitted and once when
// it closes: never on the per-frame path. Memory follows the connections
// open: an address's entry goes with its last connection.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "framed/proxy.h"
#include "net/socket.h"

namespace framed::core {

// A client as the limit counts it: 16 bytes (an IPv4 address as
// ::ffff:a.b.c.d, an IPv6 address with its last 64 bits zero).
struct IpKey {
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = false;
  friend bool operator==(const IpKey&, const IpKey&) = default;

  // The key of a socket address; nullopt-like `valid == false` for a family
  // that is not IP (a Unix socket), which the limit does not count.
  static bool of(const net::Endpoint& peer, IpKey& out) noexcept;
  // The key of a PROXY header's source (tcp4 or tcp6 only).
  static bool of(const ProxyHeader& header, IpKey& out) noexcept;
  // "192.0.2.7" or "2001:db8:1:2::/64".
  [[nodiscard]] std::string text() const;
};

class IpLimit {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `max`: connections per address; 0 turns the limit off (every reserve
  // succeeds and nothing is counted).
  explicit IpLimit(std::size_t max);

  struct Refusal {
    bool refused = false;
    // The refusal should be logged: none was for this address in the last
    // second. `unlogged` counts the refusals since the last line, this one
    // included.
    bool log = false;
    std::uint64_t unlogged = 0;
  };
  // Takes a slot for `key`, or refuses at the limit. `now` paces the log
  // lines (the caller's clock: the manual one in tests).
  Refusal try_reserve(const IpKey& key, TimePoint now);
  // Gives back a slot try_reserve() took.
  void release(const IpKey& key) noexcept;
  [[nodiscard]] std::size_t max() const noexcept { return max_; }
  [[nodiscard]] bool enabled() const noexcept { return max_ > 0; }
  // Connections counted for `key` now (tests).
  [[nodiscard]] std::size_t count(const IpKey& key) const;
  // Addresses with a connection open now (tests: memory follows them).
  [[nodiscard]] std::size_t addresses() const;

 private:
  struct Hash {
    std::size_t operator()(const IpKey& k) const noexcept;
  };
  struct Entry {
    std::size_t open = 0;
    TimePoint last_log{};
    bool logged = false;
    std::uint64_t unlogged = 0;
  };
  struct alignas(64) Shard {
    std::mutex mutex;
    std::unordered_map<IpKey, Entry, Hash> entries;
  };
  static constexpr std::size_t kShards = 16;

  Shard& shard(const IpKey& key) const noexcept { return shards_[Hash{}(key) % kShards]; }

  const std::size_t max_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace framed::core
