// Signals taken in one place: every kind is counted, none hides another.
#include "server/signals.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
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
  ASSERT_EQ(::raise(SIGHUP), 0);
  pollfd p{source.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1) << "the signalfd must be readable";
  const SignalCounts got = source.take();
  EXPECT_EQ(got.terminate, 1U);
  EXPECT_EQ(got.interrupt, 1U);
  EXPECT_GE(got.user1, 1U);
  EXPECT_EQ(got.hangup, 1U);
  EXPECT_EQ(got.stops(), 2U);
  const SignalCounts again = source.take();
  EXPECT_EQ(again.stops() + again.user1, 0U) << "each signal is reported once";
}

// A thread the program started before serve() blocks nothing: a
// process-directed SIGTERM may be delivered to it. The handler counts it
// there all the same (with a signalfd and a mask, that thread took the
// default action and the process died with status 143).
TEST(SignalSource, ASignalDeliveredToAnotherThreadIsStillTaken) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  std::atomic<bool> stop{false};
  std::atomic<bool> ready{false};
  std::thread other([&] {
    pthread_sigmask(SIG_UNBLOCK, &term, nullptr);
    ready = true;
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!ready) std::this_thread::yield();
  SignalSource source;
  ASSERT_TRUE(source.open().ok());
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &term, &old);  // This thread will not take it.
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  pollfd p{source.fd(), POLLIN, 0};
  const int ready_fds = ::poll(&p, 1, 5000);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  stop = true;
  other.join();
  ASSERT_EQ(ready_fds, 1) << "the source must wake";
  EXPECT_EQ(source.take().terminate, 1U);
}

// The source leaves the process as it found it: the previous handlers and
// the thread's mask are back once it is gone.
TEST(SignalSource, TheDestructorRestoresTheHandlersAndTheMask) {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t before;
  pthread_sigmask(SIG_BLOCK, &usr1, &before);
  {
    SignalSource source;
    ASSERT_TRUE(source.open().ok());
    sigset_t during;
    pthread_sigmask(SIG_BLOCK, nullptr, &during);
    EXPECT_EQ(sigismember(&during, SIGUSR1), 0) << "open() unblocks the signal here";
    SignalSource second;
    EXPECT_FALSE(second.open().ok()) << "one source at a time";
  }
  sigset_t after;
  pthread_sigmask(SIG_SETMASK, &before, &after);
  EXPECT_EQ(sigismember(&after, SIGUSR1), 1) << "the caller's mask is restored";
  struct sigaction now {};
  sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  sigaction(SIGPIPE, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL) << "SIGPIPE is left alone";
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

TEST(SignalPlan, AHangupReloadsAndStopsNothing) {
  const SignalPlan p = plan_for({.interrupt = 0, .terminate = 0, .user1 = 0, .hangup = 2}, false);
  EXPECT_TRUE(p.reload);
  EXPECT_FALSE(p.drain || p.exit_now || p.report);
  EXPECT_FALSE(plan_for({.interrupt = 1, .terminate = 0, .user1 = 0}, false).reload);
}

}  // namespace
}  // namespace framed::server
