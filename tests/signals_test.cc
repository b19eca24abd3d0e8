// Signals taken in one place: every kind is counted, none hides another.
#include "server/signals.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>

#include <csignal>
#include <thread>

namespace framed::server {
namespace {

TEST(SignalSource, EachKindIsCountedAndNoneHidesAnother) {
  SignalSource source;
  ASSERT_TRUE(source.open().ok());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_EQ(::raise(SIGTERM), 0);
  ASSERT_EQ(::raise(SIGINT), 0);
  pollfd p{source.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1) << "the signalfd must be readable";
  const SignalCounts got = source.take();
  EXPECT_EQ(got.terminate, 1U);
  EXPECT_EQ(got.interrupt, 1U);
  EXPECT_GE(got.user1, 1U);
  EXPECT_EQ(got.stops(), 2U);
  const SignalCounts again = source.take();
  EXPECT_EQ(again.stops() + again.user1, 0U) << "each signal is reported once";
}

TEST(SignalSource, ThreadsStartedLaterInheritTheBlock) {
  SignalSource source;
  ASSERT_TRUE(source.open().ok());
  bool blocked = false;
  std::thread t([&] {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    blocked = sigismember(&mask, SIGINT) == 1 && sigismember(&mask, SIGTERM) == 1 &&
              sigismember(&mask, SIGUSR1) == 1;
  });
  t.join();
  EXPECT_TRUE(blocked);
}

TEST(SignalPlan, StopSignalsTakenTogetherBeforeTheDrainAreOneRequest) {
  const SignalPlan both = plan_for({.interrupt = 1, .terminate = 1, .user1 = 0}, false);
  EXPECT_TRUE(both.drain);
  EXPECT_FALSE(both.exit_now);
  const SignalPlan one = plan_for({.interrupt = 0, .terminate = 1, .user1 = 0}, false);
  EXPECT_TRUE(one.drain);
  EXPECT_FALSE(one.exit_now);
}

TEST(SignalPlan, AnyStopSignalDuringTheDrainExitsAtOnce) {
  const SignalPlan p = plan_for({.interrupt = 1, .terminate = 0, .user1 = 0}, true);
  EXPECT_FALSE(p.drain);
  EXPECT_TRUE(p.exit_now);
}

TEST(SignalPlan, AReportNeverStopsAnything) {
  const SignalPlan p = plan_for({.interrupt = 0, .terminate = 0, .user1 = 5}, false);
  EXPECT_TRUE(p.report);
  EXPECT_FALSE(p.drain || p.exit_now);
  EXPECT_TRUE(plan_for({.interrupt = 0, .terminate = 1, .user1 = 1}, false).report);
}

}  // namespace
}  // namespace framed::server
