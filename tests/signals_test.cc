// The signal state of framed-server: every signal is counted, whatever
// happens to the wake-up pipe.
#include "server/signals.h"

#include <gtest/gtest.h>
#include <poll.h>

namespace framed::server {
namespace {

TEST(SignalWatch, ASigtermIsNotLostBehindAFullWakeUpPipe) {
  SignalWatch watch;
  ASSERT_TRUE(watch.install().ok());
  // Far more wake-ups than a pipe holds (64 KiB): most bytes are dropped.
  for (int i = 0; i < 100'000; ++i) SignalWatch::on_signal(SIGUSR1);
  SignalWatch::on_signal(SIGTERM);
  pollfd p{watch.wake_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1) << "the loop must be woken";
  const SignalCounts got = watch.take();
  EXPECT_EQ(got.terminate, 1U);
  EXPECT_EQ(got.user1, 100'000U);
  EXPECT_EQ(got.interrupt, 0U);
  EXPECT_EQ(got.stops(), 1U);
}

TEST(SignalWatch, TakeReportsEachSignalOnceAndEmptiesThePipe) {
  SignalWatch watch;
  ASSERT_TRUE(watch.install().ok());
  SignalWatch::on_signal(SIGINT);
  SignalWatch::on_signal(SIGINT);
  EXPECT_EQ(watch.take().interrupt, 2U);
  const SignalCounts again = watch.take();
  EXPECT_EQ(again.stops() + again.user1, 0U);
  pollfd p{watch.wake_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "no wake-up left behind";
}

TEST(SignalWatch, ARealSignalIsCounted) {
  SignalWatch watch;
  ASSERT_TRUE(watch.install().ok());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_EQ(watch.take().user1, 1U);
}

}  // namespace
}  // namespace framed::server
