// --max-conns-per-ip (core/ip_limit.h): which addresses count as one
// client, and the rules on the manual clock with the real Worker, Acceptor
// and Conn over the simulated transport: the client over the limit is
// accepted and closed cleanly, counted, logged at most once a second, and
// every other client is served; behind a PROXY header the header's client
// counts, not the proxy.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/ip_limit.h"
#include "framed/encoder.h"
#include "frames.h"
#include "sim/rig.h"

namespace framed::sim {
namespace {

using core::IpKey;
using core::IpLimit;
using std::chrono::milliseconds;

net::Endpoint endpoint(const std::string& address, std::uint16_t port = 40000) {
  net::Endpoint ep;
  if (address.find(':') == std::string::npos) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ep.addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    EXPECT_EQ(inet_pton(AF_INET, address.c_str(), &sin->sin_addr), 1) << address;
    ep.len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    EXPECT_EQ(inet_pton(AF_INET6, address.c_str(), &sin6->sin6_addr), 1) << address;
    ep.len = sizeof(sockaddr_in6);
  }
  return ep;
}

IpKey key_of(const std::string& address) {
  IpKey k;
  EXPECT_TRUE(IpKey::of(endpoint(address), k)) << address;
  return k;
}

// --- Who counts as one client.

TEST(IpKeys, AnIpv4AddressCountsAloneWhateverItsPort) {
  EXPECT_EQ(key_of("127.0.0.2"), key_of("127.0.0.2"));
  IpKey a;
  IpKey b;
  ASSERT_TRUE(IpKey::of(endpoint("127.0.0.2", 1), a));
  ASSERT_TRUE(IpKey::of(endpoint("127.0.0.2", 2), b));
  EXPECT_EQ(a, b);
  EXPECT_NE(key_of("127.0.0.2"), key_of("127.0.0.3"));
  EXPECT_EQ(key_of("192.0.2.7").text(), "192.0.2.7");
}

TEST(IpKeys, AnIpv6AddressCountsWithItsSlash64) {
  EXPECT_EQ(key_of("2001:db8:1:2::1"), key_of("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_NE(key_of("2001:db8:1:2::1"), key_of("2001:db8:1:3::1"));
  EXPECT_EQ(key_of("2001:db8:1:2::1").text(), "2001:db8:1:2::/64");
}

TEST(IpKeys, AnIpv4MappedAddressIsItsIpv4Client) {
  EXPECT_EQ(key_of("::ffff:127.0.0.2"), key_of("127.0.0.2"));
  EXPECT_NE(key_of("::ffff:127.0.0.2"), key_of("::ffff:127.0.0.3"));
}

TEST(IpKeys, APlainIpv4AddressIsNotTheIpv6OneWithTheSameBytes) {
  // ::7f00:2 (an IPv6 address) and 127.0.0.2 differ.
  EXPECT_NE(key_of("::7f00:2"), key_of("127.0.0.2"));
}

TEST(IpKeys, AProxyHeaderCountsByItsSource) {
  ProxyHeader h;
  h.command = ProxyCommand::proxy;
  h.family = ProxyFamily::tcp4;
  h.source.bytes = {10, 0, 0, 1};
  IpKey k;
  ASSERT_TRUE(IpKey::of(h, k));
  EXPECT_EQ(k, key_of("10.0.0.1"));
  h.command = ProxyCommand::local;  // The proxy's own health check.
  EXPECT_FALSE(IpKey::of(h, k));
}

// --- The counting.

TEST(IpLimits, ReservesUpToTheLimitAndGivesBack) {
  IpLimit limit(2);
  const auto t = std::chrono::steady_clock::time_point{};
  const auto a = key_of("127.0.0.2");
  EXPECT_FALSE(limit.try_reserve(a, t).refused);
  EXPECT_FALSE(limit.try_reserve(a, t).refused);
  EXPECT_TRUE(limit.try_reserve(a, t).refused);
  EXPECT_FALSE(limit.try_reserve(key_of("127.0.0.3"), t).refused);
  EXPECT_EQ(limit.count(a), 2U);
  limit.release(a);
  EXPECT_FALSE(limit.try_reserve(a, t).refused);
  limit.release(a);
  limit.release(a);
  limit.release(key_of("127.0.0.3"));
  EXPECT_EQ(limit.count(a), 0U);
  EXPECT_EQ(limit.addresses(), 0U) << "an address goes with its last connection";
}

TEST(IpLimits, ARefusalIsLoggedOnceASecondPerAddressWithTheCountSince) {
  IpLimit limit(1);
  auto t = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  const auto a = key_of("127.0.0.2");
  const auto b = key_of("127.0.0.3");
  ASSERT_FALSE(limit.try_reserve(a, t).refused);
  ASSERT_FALSE(limit.try_reserve(b, t).refused);
  auto r = limit.try_reserve(a, t);
  EXPECT_TRUE(r.refused && r.log);
  EXPECT_EQ(r.unlogged, 1U);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(limit.try_reserve(a, t + milliseconds(999)).log);
  // Another address has its own line.
  EXPECT_TRUE(limit.try_reserve(b, t).log);
  r = limit.try_reserve(a, t + milliseconds(1000));
  EXPECT_TRUE(r.refused && r.log);
  EXPECT_EQ(r.unlogged, 5U);
}

TEST(IpLimits, ZeroIsOff) {
  IpLimit limit(0);
  const auto a = key_of("127.0.0.2");
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limit.try_reserve(a, {}).refused);
  EXPECT_EQ(limit.addresses(), 0U);
}

// --- The rules, with the real connection logic.

ServerOptions options(std::size_t per_ip) {
  ServerOptions o;
  o.log_level = LogLevel::debug;
  o.max_conns_per_ip = per_ip;
  return o;
}

std::size_t connect_from(Rig& rig, const std::string& address) {
  const std::size_t id = rig.net().connect(endpoint(address));
  rig.settle();
  EXPECT_EQ(rig.net().conn(id).phase, SimConn::Phase::accepted);
  return id;
}

bool served(Rig& rig, std::size_t id, const std::string& text) {
  const auto f = frame(text);
  if (rig.net().peer_send(id, f) != f.size()) return false;
  rig.settle();
  return rig.read_all(id) == f && !rig.net().conn(id).server_closed;
}

// Closed cleanly, before a byte: a FIN, no reset, nothing written. (After
// a PROXY header the close lingers, as every close does, until the peer's
// EOF or the linger timeout.)
bool refused(Rig& rig, std::size_t id) {
  const SimConn& c = rig.net().conn(id);
  return c.server_fin && !c.server_rst && c.written == 0;
}

std::size_t lines_with(Rig& rig, const std::string& needle) {
  std::size_t n = 0;
  for (const auto& line : rig.take_log()) n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

TEST(PerIpRules, AClientOverTheLimitIsClosedCleanlyAndOthersAreServed) {
  Rig rig(options(2));
  const auto a1 = connect_from(rig, "127.0.0.2");
  const auto a2 = connect_from(rig, "127.0.0.2");
  const auto a3 = connect_from(rig, "127.0.0.2");
  const auto b1 = connect_from(rig, "127.0.0.3");
  EXPECT_TRUE(refused(rig, a3));
  EXPECT_TRUE(served(rig, a1, "one"));
  EXPECT_TRUE(served(rig, a2, "two"));
  EXPECT_TRUE(served(rig, b1, "another client"));
  EXPECT_EQ(rig.worker().counters().refused_per_ip.load(), 1U);
  EXPECT_EQ(rig.worker().counters().refused.load(), 1U);
  EXPECT_EQ(rig.limit().open(), 3U) << "the refused one gave its global slot back";
  // A slot comes back when a connection closes, however it closes.
  rig.net().peer_reset(a1);
  rig.settle();
  ASSERT_TRUE(rig.net().conn(a1).server_closed);
  const auto a4 = connect_from(rig, "127.0.0.2");
  EXPECT_TRUE(served(rig, a4, "my turn"));
  EXPECT_EQ(rig.limit().per_ip().count(key_of("127.0.0.2")), 2U);
}

TEST(PerIpRules, Ipv6ClientsCountPerSlash64) {
  Rig rig(options(1));
  const auto a = connect_from(rig, "2001:db8:1:2::1");
  const auto same_64 = connect_from(rig, "2001:db8:1:2::99");
  const auto other_64 = connect_from(rig, "2001:db8:1:3::1");
  EXPECT_TRUE(served(rig, a, "first"));
  EXPECT_TRUE(refused(rig, same_64));
  EXPECT_TRUE(served(rig, other_64, "elsewhere"));
  EXPECT_TRUE(rig.logged("2001:db8:1:2::/64 holds 1 connection(s)"));
}

TEST(PerIpRules, RefusalsAreLoggedAtMostOnceASecondPerClient) {
  Rig rig(options(1));
  (void)connect_from(rig, "127.0.0.2");
  (void)connect_from(rig, "127.0.0.3");
  (void)rig.take_log();
  for (int i = 0; i < 5; ++i) (void)connect_from(rig, "127.0.0.2");
  (void)connect_from(rig, "127.0.0.3");
  auto log = rig.take_log();
  std::size_t two = 0;
  std::size_t three = 0;
  for (const auto& line : log) {
    if (line.find("refused: 127.0.0.2 holds") != std::string::npos) ++two;
    if (line.find("refused: 127.0.0.3 holds") != std::string::npos) ++three;
  }
  EXPECT_EQ(two, 1U);
  EXPECT_EQ(three, 1U);
  rig.advance(milliseconds(1000));
  (void)connect_from(rig, "127.0.0.2");
  EXPECT_EQ(lines_with(rig, "(5 refusal(s) of it since the last line)"), 1U);
  EXPECT_EQ(rig.worker().counters().refused_per_ip.load(), 7U);
}

TEST(PerIpRules, BehindAProxyTheClientTheHeaderNamesIsCounted) {
  auto o = options(1);
  o.proxy_protocol = true;
  o.proxy_from = {"127.0.0.0/8"};
  Rig rig(o);
  const auto header = [](const std::string& client) {
    return bytes_of("PROXY TCP4 " + client + " 10.0.0.100 1111 2222\r\n");
  };
  // Every connection comes from the proxy, 127.0.0.1.
  const auto a = connect_from(rig, "127.0.0.1");
  const auto b = connect_from(rig, "127.0.0.1");
  const auto again = connect_from(rig, "127.0.0.1");
  const auto health = connect_from(rig, "127.0.0.1");
  for (const auto& [id, who] : {std::pair{a, "10.0.0.1"}, {b, "10.0.0.2"}, {again, "10.0.0.1"}}) {
    const auto h = header(who);
    ASSERT_EQ(rig.net().peer_send(id, h), h.size());
  }
  const auto local = bytes_of("PROXY UNKNOWN\r\n");
  ASSERT_EQ(rig.net().peer_send(health, local), local.size());
  rig.settle();
  EXPECT_TRUE(served(rig, a, "client one"));
  EXPECT_TRUE(served(rig, b, "client two"));
  EXPECT_TRUE(refused(rig, again));
  EXPECT_TRUE(served(rig, health, "the proxy's own check is not counted"));
  EXPECT_TRUE(rig.logged("conn 10.0.0.1:1111 refused: 10.0.0.1 holds 1 connection(s)"));
  EXPECT_EQ(rig.worker().counters().refused_per_ip.load(), 1U);
  EXPECT_EQ(rig.limit().per_ip().count(key_of("127.0.0.1")), 0U) << "the proxy is not a client";
  rig.net().peer_shutdown(a);
  rig.net().peer_shutdown(b);
  rig.settle();
  EXPECT_EQ(rig.limit().per_ip().addresses(), 0U);
}

TEST(PerIpRules, WithoutTheOptionNothingIsCounted) {
  Rig rig(options(0));
  std::vector<std::size_t> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(connect_from(rig, "127.0.0.2"));
  for (const auto id : ids) EXPECT_TRUE(served(rig, id, "x"));
  EXPECT_EQ(rig.worker().counters().refused.load(), 0U);
}

}  // namespace
}  // namespace framed::sim
