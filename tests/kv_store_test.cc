// examples/kv's store with time passed in: expiry at exactly its TTL, and
// waiters handed out once.
#include "store.h"

#include <gtest/gtest.h>

namespace kv {
namespace {

using std::chrono::milliseconds;

TEST(KvStore, AKeyExpiresExactlyAtItsTtl) {
  Store s;
  const Clock::time_point t0{std::chrono::hours(1)};
  (void)s.set("k", "v", milliseconds(100), t0);
  (void)s.set("forever", "v", milliseconds(0), t0);
  EXPECT_EQ(s.get("k", t0 + milliseconds(99)), "v");
  EXPECT_EQ(s.get("k", t0 + milliseconds(100)), std::nullopt);
  EXPECT_EQ(s.get("forever", t0 + std::chrono::hours(1000)), "v");
  (void)s.set("k2", "v", milliseconds(10), t0);
  EXPECT_EQ(s.expire(t0 + milliseconds(10)), 1U) << "the sweep removes what expired";
  EXPECT_EQ(s.size(), 1U);
}

TEST(KvStore, WaitersAreHandedOutOnceAndCanLeave) {
  Store s;
  const Clock::time_point t0{std::chrono::hours(1)};
  const framed::ConnectionHandle a{0, 4};
  const framed::ConnectionHandle b{1, 9};
  EXPECT_EQ(s.get_or_wait("k", {a, 1}, t0), std::nullopt);
  EXPECT_EQ(s.get_or_wait("k", {b, 1}, t0), std::nullopt);
  s.remove_waiter("k", b);
  const auto woken = s.set("k", "v", milliseconds(0), t0);
  ASSERT_EQ(woken.size(), 1U);
  EXPECT_EQ(woken[0].who, a);
  EXPECT_EQ(woken[0].wait, 1U);
  EXPECT_TRUE(s.set("k", "w", milliseconds(0), t0).empty()) << "once only";
  EXPECT_EQ(s.get_or_wait("k", {a, 2}, t0), "w") << "present: no wait";
}

}  // namespace
}  // namespace kv
