// framed-server's settings: the documented defaults (spec §6) and the
// values the command line must refuse.
#include "server/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <vector>

#include "net/cidr.h"

namespace framed::server {
namespace {

using std::chrono::milliseconds;

ParseOutcome parse(std::vector<const char*> args, Config& config, std::string& message) {
  args.insert(args.begin(), "framed-server");
  return parse_args(static_cast<int>(args.size()), args.data(), config, message);
}

TEST(Config, DefaultsAreTheNormativeValues) {
  Config config;
  std::string message;
  ASSERT_EQ(parse({}, config, message), ParseOutcome::run);
  EXPECT_EQ(config.host, "127.0.0.1");
  EXPECT_EQ(config.port, 7777);
  EXPECT_EQ(config.max_conns, 1024U);
  EXPECT_EQ(config.idle_timeout, milliseconds(60'000));
  EXPECT_EQ(config.frame_timeout, milliseconds(30'000));
  EXPECT_EQ(config.drain_timeout, milliseconds(5'000));
  EXPECT_EQ(config.linger_timeout, milliseconds(5'000));
  EXPECT_EQ(config.linger_time, milliseconds(30'000));
  EXPECT_EQ(config.max_frame, 16U * 1024U * 1024U);
  EXPECT_EQ(config.backlog_cap, 256U * 1024U);
}

TEST(Config, HelpShowsEachDefault) {
  const std::string text = usage();
  for (const char* shown :
       {"(default 127.0.0.1", "(default 7777)", "(default 1024)", "(default 60s", "(default 30s",
        "(default 16MiB", "(default 5s", "(default info)"}) {
    EXPECT_NE(text.find(shown), std::string::npos) << shown;
  }
}

TEST(Config, ValuesOutOfRangeOrWithoutAUnitAreRefused) {
  const std::vector<std::vector<const char*>> cases{
      {"--port", "65536"},           {"--port", "99999999999999999999"},
      {"--idle-timeout", "5"},       {"--frame-timeout", "30"},
      {"--drain-timeout", "1"},      {"--linger-timeout", "0"},
      {"--linger-time", "0"},        {"--linger-timeout", "5"},
      {"--max-frame", "4294967296"}, {"--max-conns", "1000001"},
      {"--uring-buffers", "3"},      {"--uring-buffers", "0"},
      {"--uring-buffers", "65536"},  {"--backend", "uring"},
      {"--backend", "kqueue"},
  };
  for (const auto& args : cases) {
    Config config;
    std::string message;
    EXPECT_EQ(parse(args, config, message), ParseOutcome::error) << args[0] << " " << args[1];
    EXPECT_NE(message.find(args[0]), std::string::npos) << message;
  }
}

TEST(Config, BackendsAndRingSizesParse) {
  const std::vector<std::pair<const char*, Backend>> backends{{"auto", Backend::automatic},
                                                              {"poll", Backend::poll},
                                                              {"epoll", Backend::epoll},
                                                              {"io_uring", Backend::io_uring}};
  for (const auto& [text, want] : backends) {
    Config config;
    std::string message;
    ASSERT_EQ(parse({"--backend", text}, config, message), ParseOutcome::run) << message;
    EXPECT_EQ(config.backend, want) << text;
  }
  Config config;
  std::string message;
  ASSERT_EQ(parse({"--uring-buffers", "32768"}, config, message), ParseOutcome::run) << message;
  EXPECT_EQ(config.uring_buffers, 32768U);
  // The default, unless told otherwise, is auto (epoll today).
  EXPECT_EQ(Config{}.backend, Backend::automatic);
}

TEST(Config, ValuesAtTheEdgesAreAccepted) {
  Config config;
  std::string message;
  ASSERT_EQ(parse({"--port", "65535", "--max-frame", "4294967295", "--idle-timeout", "0",
                   "--linger-timeout", "250ms", "--linger-time", "2m"},
                  config, message),
            ParseOutcome::run)
      << message;
  EXPECT_EQ(config.port, 65535);
  EXPECT_EQ(config.max_frame, 4294967295U);
  EXPECT_EQ(config.idle_timeout, milliseconds(0));
  EXPECT_EQ(config.linger_timeout, milliseconds(250));
  EXPECT_EQ(config.linger_time, milliseconds(120'000));
}

TEST(Config, ProxyProtocolIsOffByDefaultWithLoopbackPeersAnd3s) {
  Config config;
  std::string message;
  ASSERT_EQ(parse({}, config, message), ParseOutcome::run);
  EXPECT_FALSE(config.proxy_protocol);
  EXPECT_EQ(config.proxy_from, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
  EXPECT_EQ(config.proxy_timeout, milliseconds(3'000));
  const std::string text = usage();
  for (const char* shown : {"--proxy-protocol", "(default 127.0.0.0/8,::1/128)", "(default 3s"}) {
    EXPECT_NE(text.find(shown), std::string::npos) << shown;
  }
}

TEST(Config, ProxyFlagsAreParsed) {
  Config config;
  std::string message;
  ASSERT_EQ(parse({"--proxy-protocol", "--proxy-from", "10.0.0.0/8,2001:db8::/32,192.0.2.1",
                   "--proxy-timeout", "500ms", "--port", "1"},
                  config, message),
            ParseOutcome::run)
      << message;
  EXPECT_TRUE(config.proxy_protocol);
  EXPECT_EQ(config.proxy_from,
            (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32", "192.0.2.1"}));
  EXPECT_EQ(config.proxy_timeout, milliseconds(500));
  EXPECT_EQ(config.port, 1) << "--proxy-protocol takes no value";
}

TEST(Config, BadProxyRangesAreRefused) {
  for (const char* bad : {"10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/8,", ",::1", "localhost",
                          "10.0.0.256/8", "10.0.0.0/-1", "10.0.0.0/8x", ""}) {
    Config config;
    std::string message;
    EXPECT_EQ(parse({"--proxy-from", bad}, config, message), ParseOutcome::error) << bad;
    EXPECT_NE(message.find("--proxy-from"), std::string::npos) << message;
  }
  Config config;
  std::string message;
  EXPECT_EQ(parse({"--proxy-timeout", "3"}, config, message), ParseOutcome::error);
}

sockaddr_storage address(const char* text) {
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else if (inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
    ss.ss_family = AF_INET6;
  }
  return ss;
}

bool in(const char* range, const char* addr) {
  const auto r = net::parse_cidr(range);
  return r.has_value() && net::contains(*r, address(addr));
}

// --proxy-from: who may send a PROXY header, bit by bit.
TEST(Cidr, MatchesExactlyThePrefix) {
  EXPECT_TRUE(in("127.0.0.0/8", "127.255.1.2"));
  EXPECT_FALSE(in("127.0.0.0/8", "128.0.0.1"));
  EXPECT_TRUE(in("10.1.2.0/23", "10.1.3.255"));
  EXPECT_FALSE(in("10.1.2.0/23", "10.1.4.0"));
  EXPECT_TRUE(in("192.0.2.7", "192.0.2.7"));
  EXPECT_FALSE(in("192.0.2.7", "192.0.2.6")) << "a bare address is a /32";
  EXPECT_TRUE(in("192.0.2.7/31", "192.0.2.6"));
  EXPECT_TRUE(in("0.0.0.0/0", "203.0.113.9"));
  EXPECT_TRUE(in("127.0.0.1/8", "127.9.9.9")) << "host bits are cleared";
  EXPECT_TRUE(in("::1/128", "::1"));
  EXPECT_FALSE(in("::1/128", "::2"));
  EXPECT_TRUE(in("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(in("2001:db8::/32", "2001:db9::1"));
  EXPECT_FALSE(in("127.0.0.0/8", "::1")) << "families never mix";
  EXPECT_TRUE(in("127.0.0.0/8", "::ffff:127.0.0.1")) << "an IPv4-mapped peer is IPv4";
  EXPECT_TRUE(in("::ffff:0:0/96", "::ffff:127.0.0.1")) << "and as IPv6 against IPv6 ranges";
}

}  // namespace
}  // namespace framed::server
