// The event loop's backend interface (src/loop/poller.h), as a contract
// every backend keeps: readiness reported with the caller's token, interest
// changes take effect, removal stops events (and leaves the others intact).
#include "loop/poller.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "net/fd.h"

namespace framed::loop {
namespace {

struct Pair {
  net::UniqueFd a;  // Watched.
  net::UniqueFd b;  // The test writes here to make `a` readable.
};

Pair make_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {net::UniqueFd(fds[0]), net::UniqueFd(fds[1])};
}

class PollerContract : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<Poller> poller;

  void SetUp() override {
    net::SysError e;
    poller = make_poller(GetParam(), e);
    ASSERT_TRUE(poller) << e.message();
  }

  std::vector<std::uint64_t> ready(int timeout_ms, bool writable = false) {
    std::vector<Event> events;
    EXPECT_TRUE(poller->wait(timeout_ms, events).ok());
    std::vector<std::uint64_t> tokens;
    for (const auto& e : events) {
      if (writable ? e.writable : e.readable) tokens.push_back(e.token);
    }
    std::sort(tokens.begin(), tokens.end());
    return tokens;
  }
};

TEST_P(PollerContract, ReportsReadinessWithTheCallersToken) {
  auto p = make_pair();
  ASSERT_TRUE(poller->add(p.a.get(), 0xABCD'0000'0001ULL, kRead).ok());
  EXPECT_TRUE(ready(0).empty()) << "nothing to read yet";
  ASSERT_EQ(::write(p.b.get(), "x", 1), 1);
  EXPECT_EQ(ready(1000), std::vector<std::uint64_t>{0xABCD'0000'0001ULL});
}

TEST_P(PollerContract, ModifyChangesInterestAndToken) {
  auto p = make_pair();
  ASSERT_TRUE(poller->add(p.a.get(), 1, kRead).ok());
  ASSERT_EQ(::write(p.b.get(), "x", 1), 1);
  ASSERT_TRUE(poller->modify(p.a.get(), 2, kNone).ok());
  EXPECT_TRUE(ready(0).empty()) << "no interest, no event";
  ASSERT_TRUE(poller->modify(p.a.get(), 3, kRead | kWrite).ok());
  EXPECT_EQ(ready(1000), std::vector<std::uint64_t>{3});
  EXPECT_EQ(ready(1000, true), std::vector<std::uint64_t>{3});
}

TEST_P(PollerContract, RemovingOneLeavesTheOthersWatched) {
  std::vector<Pair> pairs;
  for (std::uint64_t i = 0; i < 5; ++i) {
    pairs.push_back(make_pair());
    ASSERT_TRUE(poller->add(pairs.back().a.get(), 100 + i, kRead).ok());
  }
  // Remove from the front and the middle: what moves into a hole must still
  // be found under its own descriptor.
  poller->remove(pairs[0].a.get());
  poller->remove(pairs[2].a.get());
  for (auto& p : pairs) ASSERT_EQ(::write(p.b.get(), "x", 1), 1);
  EXPECT_EQ(ready(1000), (std::vector<std::uint64_t>{101, 103, 104}));
  // A later change of a moved entry reaches it, not its old place.
  ASSERT_TRUE(poller->modify(pairs[4].a.get(), 204, kRead).ok());
  poller->remove(pairs[1].a.get());
  EXPECT_EQ(ready(1000), (std::vector<std::uint64_t>{103, 204}));
}

TEST_P(PollerContract, AddingTwiceOrChangingAnUnknownDescriptorFails) {
  auto p = make_pair();
  ASSERT_TRUE(poller->add(p.a.get(), 1, kRead).ok());
  EXPECT_FALSE(poller->add(p.a.get(), 1, kRead).ok());
  auto q = make_pair();
  EXPECT_FALSE(poller->modify(q.a.get(), 1, kRead).ok());
}

TEST_P(PollerContract, AHangUpIsReported) {
  auto p = make_pair();
  ASSERT_TRUE(poller->add(p.a.get(), 7, kRead).ok());
  p.b.reset();
  std::vector<Event> events;
  ASSERT_TRUE(poller->wait(1000, events).ok());
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].token, 7U);
  EXPECT_TRUE(events[0].readable || events[0].error);
}

std::string backend_name(const ::testing::TestParamInfo<Backend>& param) {
  return std::string(to_string(param.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, PollerContract, ::testing::Values(Backend::poll, Backend::epoll),
                         backend_name);

}  // namespace
}  // namespace framed::loop
