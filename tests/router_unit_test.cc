// framed-router's parts on their own: the consistent-hash ring (a key keeps
// its backend; adding one moves few keys and only to it; a backend down
// passes on only its own keys), the reply queue (the client's order
// whatever order replies come in; a failed frame stops the writing there)
// and the command line.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "router/options.h"
#include "router/reply_queue.h"
#include "router/ring.h"

namespace framed::router {
namespace {

std::uint64_t key_hash(int i) {
  const std::string k = "key-" + std::to_string(i);
  return hash_key(std::as_bytes(std::span(k.data(), k.size())));
}

const auto all = [](std::size_t) { return true; };

TEST(HashRing, SpreadsKeysOverEveryBackend) {
  const HashRing ring({"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"});
  std::map<std::size_t, int> count;
  for (int i = 0; i < 30'000; ++i) ++count[ring.pick(key_hash(i), all)];
  ASSERT_EQ(count.size(), 3U);
  for (const auto& [backend, n] : count) {
    EXPECT_GT(n, 7'000) << backend;
    EXPECT_LT(n, 13'000) << backend;
  }
}

TEST(HashRing, AddingABackendMovesAboutAQuarterOfTheKeysAllToIt) {
  const HashRing three({"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"});
  const HashRing four({"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000", "10.0.0.4:7000"});
  int moved = 0;
  for (int i = 0; i < 30'000; ++i) {
    const auto before = three.pick(key_hash(i), all);
    const auto after = four.pick(key_hash(i), all);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, 3U) << "a key moves only to the new backend";
    }
  }
  EXPECT_GT(moved, 30'000 / 8);
  EXPECT_LT(moved, 30'000 * 35 / 100) << "about 1/4 of the keys move, not most of them";
}

TEST(HashRing, ABackendDownPassesOnOnlyItsOwnKeys) {
  const HashRing ring({"a:1", "b:1", "c:1"});
  const auto without_b = [](std::size_t b) { return b != 1; };
  for (int i = 0; i < 10'000; ++i) {
    const auto usual = ring.pick(key_hash(i), all);
    const auto now = ring.pick(key_hash(i), without_b);
    EXPECT_NE(now, 1U);
    if (usual != 1) {
      EXPECT_EQ(now, usual) << "the keys of the backends still up stay put";
    }
  }
  EXPECT_EQ(ring.pick(key_hash(1), [](std::size_t) { return false; }), SIZE_MAX);
}

std::vector<std::byte> reply(std::uint64_t n) {
  const std::string s = "r" + std::to_string(n);
  const auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

// Replies stored in any order come out in the frames' order, each once,
// the ones in turn without being stored.
TEST(ReplyQueue, WritesRepliesInTheClientsOrderWhateverOrderTheyCome) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    ReplyQueue q;
    const std::size_t n = 1 + rng() % 40;
    std::vector<std::uint64_t> seqs;
    for (std::size_t i = 0; i < n; ++i) seqs.push_back(q.push());
    std::shuffle(seqs.begin(), seqs.end(), rng);
    std::vector<std::vector<std::byte>> out;
    const auto write = [&out](std::span<const std::byte> r) { out.emplace_back(r.begin(), r.end()); };
    for (const auto seq : seqs) {
      if (q.is_next(seq)) {
        write(reply(seq));
        q.pop();
      } else {
        ASSERT_TRUE(q.store(seq, reply(seq)));
        ASSERT_FALSE(q.store(seq, reply(seq))) << "a second reply to one frame is refused";
      }
      ASSERT_TRUE(q.flush(write));
    }
    ASSERT_EQ(out.size(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(out[i], reply(i));
    EXPECT_EQ(q.in_flight(), 0U);
    EXPECT_EQ(q.waiting_bytes(), 0U);
  }
}

TEST(ReplyQueue, AFailedFrameStopsTheWritingThere) {
  ReplyQueue q;
  for (int i = 0; i < 4; ++i) (void)q.push();
  std::vector<std::string> out;
  const auto write = [&out](std::span<const std::byte> r) {
    out.emplace_back(reinterpret_cast<const char*>(r.data()), r.size());
  };
  ASSERT_TRUE(q.store(1, reply(1)));
  ASSERT_TRUE(q.store(3, reply(3)));
  q.fail(2);
  EXPECT_TRUE(q.flush(write)) << "frame 0 still awaits its reply";
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(q.is_next(0));
  write(reply(0));
  q.pop();
  EXPECT_FALSE(q.flush(write)) << "1 is written, then 2 failed";
  EXPECT_EQ(out, (std::vector<std::string>{"r0", "r1"}));
}

Parsed parse_args(std::vector<std::string> args, Options& o, std::string& message) {
  args.insert(args.begin(), "framed-router");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse(static_cast<int>(argv.size()), argv.data(), o, message);
}

TEST(RouterOptions, ParsesBackendsAndPolicies) {
  Options o;
  std::string message;
  ASSERT_EQ(parse_args({"--listen", "[::1]:0", "--backend", "127.0.0.1:7001", "--backend",
                        "[::1]:7002", "--balance=key", "--key-bytes", "4", "--retry",
                        "--backend-timeout", "250ms", "--workers", "2", "--io", "poll"},
                       o, message),
            Parsed::run)
      << message;
  EXPECT_EQ(o.server.host, "::1");
  EXPECT_EQ(o.server.port, 0);
  ASSERT_EQ(o.backends.size(), 2U);
  EXPECT_EQ(o.backends[1].text(), "[::1]:7002");
  EXPECT_EQ(o.balance, Balance::key);
  EXPECT_EQ(o.key_bytes, 4U);
  EXPECT_TRUE(o.retry);
  EXPECT_EQ(o.backend_timeout.count(), 250);
  EXPECT_EQ(o.server.workers, 2U);
  EXPECT_EQ(o.server.backend, Backend::poll);
}

TEST(RouterOptions, RefusesWhatItCannotUseSayingWhy) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "at least one --backend HOST:PORT is needed"},
      {{"--backend", "127.0.0.1"}, "invalid value '127.0.0.1' for --backend"},
      {{"--backend", "127.0.0.1:0"}, "invalid value '127.0.0.1:0' for --backend"},
      {{"--backend", "::1:7000"}, "invalid value '::1:7000' for --backend"},
      {{"--backend", "a:1", "--balance", "random"}, "invalid value 'random' for --balance"},
      {{"--backend", "a:1", "--backend-timeout", "5"}, "invalid value '5' for --backend-timeout"},
      {{"--backend", "a:1", "--frobnicate"}, "unknown option '--frobnicate'"},
      {{"--backend", "a:1", "--listen"}, "option '--listen' needs a value"},
      {{"--backend", "a:1", "stray"}, "unexpected argument 'stray'"},
      {{"--backend", "a:1", "--tls-min-version", "1.1"}, "invalid value '1.1' for --tls-min-version"},
  };
  for (const auto& [args, expected] : cases) {
    Options o;
    std::string message;
    EXPECT_EQ(parse_args(args, o, message), Parsed::error);
    EXPECT_EQ(message, expected);
  }
  Options o;
  std::string message;
  EXPECT_EQ(parse_args({"--backend", "a:1", "--tls-cert", "c.pem"}, o, message), Parsed::error);
  EXPECT_EQ(message, tls_supported() ? "TLS needs both --tls-cert and --tls-key"
                                     : "this framed-router was built without TLS (OpenSSL 3 was "
                                       "not found)");
}

}  // namespace
}  // namespace framed::router
