#include "base/deadline.h"

#include <gtest/gtest.h>

namespace sv {
namespace {

using namespace std::chrono_literals;

TEST(DeadlineTest, InfiniteNeverExpiresAndHasNoTimespec) {
  Deadline d = Deadline::Infinite();
  EXPECT_TRUE(d.infinite());
  EXPECT_FALSE(d.Expired());
  EXPECT_FALSE(d.AbsoluteTimespec());
  EXPECT_FALSE(d.RemainingTimespec());
  EXPECT_EQ(d.RemainingMillis(), -1);
}

TEST(DeadlineTest, PastDeadlineHasZeroLeft) {
  Deadline d = Deadline::At(Deadline::Clock::now() - 1s);
  EXPECT_TRUE(d.Expired());
  EXPECT_EQ(d.Remaining(), Deadline::Clock::duration::zero());
  auto ts = d.RemainingTimespec();
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->tv_sec, 0);
  EXPECT_EQ(ts->tv_nsec, 0);
  EXPECT_EQ(d.RemainingMillis(), 0);
}

TEST(DeadlineTest, AfterHugeDurationSaturatesToInfinite) {
  EXPECT_TRUE(Deadline::After(std::chrono::hours::max()).infinite());
}

TEST(DeadlineTest, AbsoluteTimespecIsOnTheMonotonicClock) {
  Deadline d = Deadline::After(10s);
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  auto at = d.AbsoluteTimespec();
  ASSERT_TRUE(at);
  EXPECT_GE(at->tv_sec, now.tv_sec + 9);
  EXPECT_LE(at->tv_sec, now.tv_sec + 11);
}

TEST(DeadlineTest, MonotonicNanosRoundTrips) {
  EXPECT_EQ(Deadline::Infinite().MonotonicNanos(), INT64_MAX);
  EXPECT_TRUE(Deadline::FromMonotonicNanos(INT64_MAX).infinite());
  const Deadline d = Deadline::After(std::chrono::milliseconds(5));
  EXPECT_EQ(Deadline::FromMonotonicNanos(d.MonotonicNanos()), d);
  const timespec ts = *d.AbsoluteTimespec();
  EXPECT_EQ(d.MonotonicNanos(), std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

TEST(DeadlineTest, RemainingMillisRoundsUp) {
  Deadline d = Deadline::After(1500us);
  int ms = d.RemainingMillis();
  EXPECT_GE(ms, 1);
  EXPECT_LE(ms, 2);
}

TEST(DeadlineTest, OrdersByTime) {
  EXPECT_LT(Deadline::After(1s), Deadline::After(1h));
  EXPECT_LT(Deadline::After(1h), Deadline::Infinite());
}

}  // namespace
}  // namespace sv
