// framed-broadcast, the second service built on framed::server: one test
// per behaviour, each against the real binary on an ephemeral port.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <thread>

#include "framed/decoder.h"
#include "framed/encoder.h"
#include "net/socket.h"
#include "server_process.h"
#include "test_client.h"

namespace framed::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> payload_of(std::size_t size, std::uint8_t tag, std::size_t seq) {
  std::vector<std::byte> p(size);
  for (std::size_t k = 0; k < size; ++k) {
    p[k] = static_cast<std::byte>(k % 7 == 0 ? tag : (k * 31 + seq) & 0xFFU);
  }
  if (size > 0) p[0] = static_cast<std::byte>(tag);
  return p;
}

// Splits a received stream into frames; false if it is not whole frames.
bool split_frames(const std::vector<std::byte>& stream, std::vector<std::vector<std::byte>>& out) {
  Decoder d(0xFFFFFFFFU);
  std::span<const std::byte> in(stream);
  std::vector<std::byte> cur;
  while (!in.empty()) {
    const auto r = d.feed(in);
    in = in.subspan(r.consumed);
    if (r.status != DecodeStatus::chunk) break;
    cur.insert(cur.end(), r.payload.begin(), r.payload.end());
    if (r.frame_end) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  return d.finish() == DecodeError::none;
}

class Broadcast : public ::testing::Test {
 protected:
  ServerProcess server;

  void start(std::vector<std::string> args = {}) {
    SpawnOptions options;
    options.args = {"--port", "0"};
    options.args.insert(options.args.end(), args.begin(), args.end());
    std::string error;
    ASSERT_TRUE(server.start(FRAMED_BROADCAST_PATH, options, error)) << error;
  }

  // Waits until the relay counts `n` open connections, so that a frame
  // sent next reaches all of them.
  void wait_open(std::size_t n) {
    for (int i = 0; i < 100; ++i) {
      const auto before = server.stderr_text().size();
      server.send_signal(SIGUSR1);
      const std::string want = "open " + std::to_string(n) + "\n";
      for (int k = 0; k < 20; ++k) {
        if (server.stderr_text().find(want, before) != std::string::npos) return;
        std::this_thread::sleep_for(10ms);
      }
    }
    FAIL() << "never saw " << n << " open connections:\n" << server.stderr_text();
  }
};

TEST_F(Broadcast, FansOutEveryFrameToEveryOtherClientByteExact) {
  start();
  auto sender = connect_local(server.port());
  std::vector<net::UniqueFd> receivers;
  receivers.reserve(4);
  for (int i = 0; i < 4; ++i) receivers.push_back(connect_local(server.port()));
  ASSERT_TRUE(sender.valid());
  wait_open(5);
  std::vector<std::byte> stream;
  for (std::size_t i = 0; i < 60; ++i) {
    const auto f = frame_of(payload_of(i * 333 % 5000, 1, i));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  ASSERT_TRUE(write_all(sender.get(), stream));
  for (auto& r : receivers) {
    const auto ex = exchange(r.get(), {}, stream.size(), false);
    EXPECT_TRUE(ex.received == stream) << ex.received.size() << " of " << stream.size();
  }
  // Nothing comes back to the sender.
  const auto back = exchange(sender.get(), {}, 1, false, 300ms);
  EXPECT_TRUE(back.received.empty());
}

// With four workers, clients land on different workers (SO_REUSEPORT
// spreads them; the per-worker counters show it), and a frame still
// reaches every other client, on every worker, byte exact.
TEST_F(Broadcast, WithFourWorkersAFrameReachesTheClientsOfEveryWorker) {
  start({"--workers", "4", "--log-level", "debug"});
  constexpr int kClients = 16;
  std::vector<net::UniqueFd> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(connect_local(server.port()));
  wait_open(kClients);
  // The accepts per worker, from the debug counters of the last SIGUSR1
  // (written just after the total that wait_open saw).
  ASSERT_TRUE(server.wait_for_log("worker 3 counters (SIGUSR1)", 5s)) << server.stderr_text();
  std::this_thread::sleep_for(50ms);
  const std::string log = server.stderr_text();
  int workers_with_clients = 0;
  for (int w = 0; w < 4; ++w) {
    const std::string head = "worker " + std::to_string(w) + " counters (SIGUSR1): accepted ";
    const auto at = log.rfind(head);
    ASSERT_NE(at, std::string::npos) << log;
    if (std::stoi(log.substr(at + head.size())) > 0) ++workers_with_clients;
  }
  ASSERT_GE(workers_with_clients, 2) << "16 clients all on one of 4 workers";
  // Each client sends one frame of its own; every other client gets all 15.
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(
        write_all(clients[i].get(), frame_of(payload_of(100, static_cast<std::uint8_t>(i), 0))));
  }
  for (int i = 0; i < kClients; ++i) {
    const auto ex = exchange(clients[i].get(), {}, (kClients - 1) * 104U, false);
    std::vector<std::vector<std::byte>> frames;
    ASSERT_TRUE(split_frames(ex.received, frames)) << "client " << i;
    ASSERT_EQ(frames.size(), static_cast<std::size_t>(kClients - 1)) << "client " << i;
    std::vector<bool> from(kClients, false);
    for (const auto& f : frames) {
      const auto tag = std::to_integer<int>(f[0]);
      ASSERT_LT(tag, kClients);
      EXPECT_TRUE(f == payload_of(100, static_cast<std::uint8_t>(tag), 0));
      from[static_cast<std::size_t>(tag)] = true;
    }
    EXPECT_FALSE(from[static_cast<std::size_t>(i)]) << "nothing comes back to the sender";
  }
}

TEST_F(Broadcast, FramesOfTwoSendersNeverInterleave) {
  // Not a test of cutting: a cap the two unpaced senders cannot reach.
  start({"--max-backlog", "256MiB"});
  auto a = connect_local(server.port());
  auto b = connect_local(server.port());
  auto receiver = connect_local(server.port());
  ASSERT_TRUE(a.valid() && b.valid() && receiver.valid());
  wait_open(3);
  constexpr std::size_t kFrames = 16;
  constexpr std::size_t kSize = 200'000;  // Many reads and writes per frame.
  std::vector<std::byte> sa;
  std::vector<std::byte> sb;
  for (std::size_t i = 0; i < kFrames; ++i) {
    const auto fa = frame_of(payload_of(kSize, 0xAA, i));
    const auto fb = frame_of(payload_of(kSize, 0xBB, i));
    sa.insert(sa.end(), fa.begin(), fa.end());
    sb.insert(sb.end(), fb.begin(), fb.end());
  }
  std::thread ta([&] { (void)write_all(a.get(), sa, 20'000ms); });
  std::thread tb([&] { (void)write_all(b.get(), sb, 20'000ms); });
  const auto ex = exchange(receiver.get(), {}, 2 * sa.size(), false, 20'000ms);
  ta.join();
  tb.join();
  ASSERT_EQ(ex.received.size(), 2 * sa.size());
  std::vector<std::vector<std::byte>> frames;
  ASSERT_TRUE(split_frames(ex.received, frames)) << "the stream is not whole frames";
  ASSERT_EQ(frames.size(), 2 * kFrames);
  std::map<std::uint8_t, std::size_t> next;  // Per sender, the next sequence.
  for (const auto& f : frames) {
    const auto tag = std::to_integer<std::uint8_t>(f[0]);
    ASSERT_TRUE(tag == 0xAA || tag == 0xBB);
    EXPECT_TRUE(f == payload_of(kSize, tag, next[tag]))
        << "a frame of sender " << int{tag} << " is mixed or out of order";
    ++next[tag];
  }
}

TEST_F(Broadcast, ASlowReceiverIsCutWhileAFastOneKeepsUp) {
  // The kernel's send buffer to the slow receiver grows to a few MiB by
  // itself; 16 MiB sent against a 1 MiB cap leaves the relay far above it.
  start({"--max-backlog", "1MiB"});
  auto sender = connect_local(server.port());
  auto fast = connect_local(server.port());
  auto slow = connect_small(server.port(), 4 << 10);  // Never reads.
  ASSERT_TRUE(sender.valid() && fast.valid() && slow.valid());
  wait_open(3);
  std::vector<std::byte> stream;
  for (std::size_t i = 0; i < 256; ++i) {
    const auto f = frame_of(payload_of(64U << 10U, 3, i));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  // The fast receiver keeps up: the sender stays at most 256 KiB ahead of
  // what it has received, so its backlog never nears the cap, while the
  // slow one's grows by megabytes.
  std::size_t sent = 0;
  std::vector<std::byte> received;
  std::vector<std::byte> buf(256U << 10U);
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (received.size() < stream.size() && std::chrono::steady_clock::now() < give_up) {
    const std::size_t ahead_limit = received.size() + (256U << 10U);
    if (sent < stream.size() && sent < ahead_limit) {
      const auto chunk =
          std::span(stream).subspan(sent, std::min(stream.size(), ahead_limit) - sent);
      const auto w = net::write_some(sender.get(), chunk);
      ASSERT_TRUE(w.error.ok()) << w.error.message();
      sent += w.bytes;
    }
    const auto r = net::read_some(fast.get(), buf);
    ASSERT_TRUE(r.error.ok() && !r.eof) << "the fast receiver was cut:\n" << server.stderr_text();
    received.insert(received.end(), buf.begin(),
                    buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    if (r.would_block) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(received == stream) << received.size() << " of " << stream.size();
  EXPECT_TRUE(server.wait_for_log("receiver too slow", 10s)) << server.stderr_text();
  EXPECT_LT(server.rss_kib(), 64 * 1024) << "memory must stay bounded";
}

TEST_F(Broadcast, ASenderThatLeavesMidFrameDeliversNothingOfThatFrame) {
  start();
  auto sender = connect_local(server.port());
  auto receiver = connect_local(server.port());
  ASSERT_TRUE(sender.valid() && receiver.valid());
  wait_open(2);
  const auto whole = frame_of(payload_of(1000, 5, 1));
  auto cut = frame_of(payload_of(1000, 5, 2));
  cut.resize(500);
  ASSERT_TRUE(write_all(sender.get(), whole));
  ASSERT_TRUE(write_all(sender.get(), cut));
  sender.reset();
  EXPECT_TRUE(server.wait_for_log("peer closed mid-frame", 5s)) << server.stderr_text();
  const auto ex = exchange(receiver.get(), {}, SIZE_MAX, false, 500ms);
  EXPECT_TRUE(ex.received == whole) << ex.received.size() << " bytes";
}

TEST_F(Broadcast, SigintDrainsAndExitsZero) {
  start();
  auto a = connect_local(server.port());
  auto b = connect_local(server.port());
  ASSERT_TRUE(a.valid() && b.valid());
  wait_open(2);
  const auto f = frame_of("last words");
  ASSERT_TRUE(write_all(a.get(), f));
  EXPECT_TRUE(exchange(b.get(), {}, f.size(), false).received == f);
  server.send_signal(SIGINT);
  const auto status = server.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 0);
  EXPECT_TRUE(read_until_close(a.get(), 2'000ms).eof);
  EXPECT_NE(server.stderr_text().find("frames sent 1"), std::string::npos) << server.stderr_text();
}

TEST(BroadcastCommandLine, BadValuesFollowTheGnuConvention) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--bogus"},
                                               {"--port", "65536"},
                                               {"--max-backlog", "0"},
                                               {"--max-frame", "lots"}}) {
    std::string out;
    std::string err;
    const auto status = run_to_exit(FRAMED_BROADCAST_PATH, args, out, err);
    EXPECT_EQ(status.code, 2) << args[0];
    EXPECT_EQ(err.rfind("framed-broadcast: ", 0), 0U) << err;
    EXPECT_NE(err.find("Try 'framed-broadcast --help' for more information.\n"), std::string::npos)
        << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << "one line, then the hint:\n" << err;
  }
}

}  // namespace
}  // namespace framed::test
