// Tests for supervisor/restart_policy.h: backoff, jitter, intensity, reset.
// Pure: time is made up, no processes.
#include "supervisor/restart_policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

namespace sv::supervisor {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;

constexpr std::uint64_t kSeed = 42;
const TimePoint kStart = TimePoint{} + 1000h;

// Settings where only the backoff matters: the intensity is never reached.
RestartSettings BackoffOnly() {
  RestartSettings s;
  s.backoff_initial = 10ms;
  s.backoff_max = 1s;
  s.healthy_after = 10s;
  s.intensity = 100000;
  s.period = 60s;
  return s;
}

// Expects `delay` to be `base` with at most 20% jitter, never above `max`.
void ExpectJittered(nanoseconds delay, nanoseconds base, nanoseconds max) {
  EXPECT_GE(delay, base * 8 / 10);
  EXPECT_LE(delay, std::min(base * 12 / 10, max));
}

TEST(RestartPolicyTest, BackoffDoublesPerConsecutiveCrashAndCaps) {
  RestartPolicy policy(BackoffOnly(), kSeed);
  nanoseconds base = 10ms;
  for (int i = 0; i < 12; ++i) {
    auto d = policy.OnCrash(0, 1ms, kStart + i * 1ms);
    ASSERT_FALSE(d.fatal);
    EXPECT_TRUE(d.reason.empty());
    ExpectJittered(d.delay, base, 1s);
    base = std::min<nanoseconds>(base * 2, 1s);
  }
  EXPECT_EQ(base, 1s);  // the loop did reach the cap
}

TEST(RestartPolicyTest, JitterStaysWithinTwentyPercentAndVaries) {
  RestartPolicy policy(BackoffOnly(), kSeed);
  nanoseconds lowest = nanoseconds::max(), highest = nanoseconds::zero();
  for (int i = 0; i < 1000; ++i) {
    // A healthy uptime keeps the base at backoff_initial.
    auto d = policy.OnCrash(0, 10s, kStart + i * 1ms);
    ASSERT_FALSE(d.fatal);
    ExpectJittered(d.delay, 10ms, 1s);
    lowest = std::min(lowest, d.delay);
    highest = std::max(highest, d.delay);
  }
  EXPECT_LT(lowest, 9ms);
  EXPECT_GT(highest, 11ms);
}

TEST(RestartPolicyTest, JitterIsDeterministicForASeed) {
  RestartPolicy a(BackoffOnly(), kSeed), b(BackoffOnly(), kSeed), c(BackoffOnly(), kSeed + 1);
  std::vector<nanoseconds> from_a, from_b, from_c;
  for (int i = 0; i < 20; ++i) {
    from_a.push_back(a.OnCrash(0, 10s, kStart + i * 1ms).delay);
    from_b.push_back(b.OnCrash(0, 10s, kStart + i * 1ms).delay);
    from_c.push_back(c.OnCrash(0, 10s, kStart + i * 1ms).delay);
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
}

TEST(RestartPolicyTest, BackoffNeverExceedsMaxAtTheCap) {
  RestartSettings s = BackoffOnly();
  s.backoff_max = 5s;
  RestartPolicy policy(s, kSeed);
  for (int i = 0; i < 200; ++i) {
    auto d = policy.OnCrash(0, 0ns, kStart + i * 1ms);
    if (i >= 10) ExpectJittered(d.delay, 5s, 5s);
  }
}

TEST(RestartPolicyTest, DoublingDoesNotOverflowWithHugeMax) {
  RestartSettings s = BackoffOnly();
  s.backoff_initial = 1ns;
  s.backoff_max = nanoseconds::max();
  RestartPolicy policy(s, kSeed);
  nanoseconds last{0};
  for (int i = 0; i < 300; ++i) last = policy.OnCrash(0, 0ns, kStart + i * 1ms).delay;
  EXPECT_GE(last, nanoseconds::max() / 10 * 8);
}

TEST(RestartPolicyTest, HealthyUptimeResetsBackoff) {
  RestartPolicy policy(BackoffOnly(), kSeed);
  for (int i = 0; i < 4; ++i) (void)policy.OnCrash(0, 1s, kStart + i * 1ms);
  ExpectJittered(policy.OnCrash(0, 1s, kStart + 4ms).delay, 160ms, 1s);
  ExpectJittered(policy.OnCrash(0, 10s, kStart + 5ms).delay, 10ms, 1s);
  ExpectJittered(policy.OnCrash(0, 1s, kStart + 6ms).delay, 20ms, 1s);
}

TEST(RestartPolicyTest, OnHealthyResetsOnlyThatSlot) {
  RestartPolicy policy(BackoffOnly(), kSeed);
  for (int i = 0; i < 3; ++i) {
    (void)policy.OnCrash(0, 0ns, kStart + i * 1ms);
    (void)policy.OnCrash(1, 0ns, kStart + i * 1ms);
  }
  policy.OnHealthy(0);
  ExpectJittered(policy.OnCrash(0, 0ns, kStart + 10ms).delay, 10ms, 1s);
  ExpectJittered(policy.OnCrash(1, 0ns, kStart + 10ms).delay, 80ms, 1s);
}

TEST(RestartPolicyTest, MoreThanIntensityCrashesInPeriodIsFatal) {
  RestartSettings s = BackoffOnly();
  s.intensity = 5;
  RestartPolicy policy(s, kSeed);
  for (std::uint32_t i = 0; i < 5; ++i) {
    ASSERT_FALSE(policy.OnCrash(i, 0ns, kStart + i * 1s).fatal) << i;
  }
  auto d = policy.OnCrash(7, 0ns, kStart + 6s);
  EXPECT_TRUE(d.fatal);
  EXPECT_EQ(d.reason, "6 crashes in 60s (intensity 5)");
  EXPECT_EQ(d.delay, 0ns);
  EXPECT_TRUE(policy.fatal());
  // FATAL sticks until Reset, with the reason that caused it.
  auto later = policy.OnCrash(0, 0ns, kStart + 1h);
  EXPECT_TRUE(later.fatal);
  EXPECT_EQ(later.reason, "6 crashes in 60s (intensity 5)");
}

TEST(RestartPolicyTest, ReasonNamesThePeriodInItsUnit) {
  RestartSettings s = BackoffOnly();
  s.intensity = 1;
  s.period = 1500ms;
  RestartPolicy policy(s, kSeed);
  (void)policy.OnCrash(0, 0ns, kStart);
  EXPECT_EQ(policy.OnCrash(0, 0ns, kStart + 1ms).reason, "2 crashes in 1500ms (intensity 1)");
}

TEST(RestartPolicyTest, CrashesSlideOutOfThePeriod) {
  RestartSettings s = BackoffOnly();
  s.intensity = 2;
  s.period = 10s;
  RestartPolicy policy(s, kSeed);
  EXPECT_FALSE(policy.OnCrash(0, 0ns, kStart).fatal);
  EXPECT_FALSE(policy.OnCrash(0, 0ns, kStart + 5s).fatal);
  EXPECT_EQ(policy.crashes_in_period(kStart + 5s), 2u);
  // The first crash is exactly one period old at +10s: out of the window.
  EXPECT_EQ(policy.crashes_in_period(kStart + 10s), 1u);
  EXPECT_FALSE(policy.OnCrash(0, 0ns, kStart + 10s).fatal);
  EXPECT_EQ(policy.crashes_in_period(kStart + 10s), 2u);
  auto d = policy.OnCrash(0, 0ns, kStart + 12s);  // +5s, +10s, +12s
  EXPECT_TRUE(d.fatal);
  EXPECT_EQ(d.reason, "3 crashes in 10s (intensity 2)");
}

TEST(RestartPolicyTest, ResetForgetsCrashesAndFatal) {
  RestartSettings s = BackoffOnly();
  s.intensity = 1;
  RestartPolicy policy(s, kSeed);
  (void)policy.OnCrash(0, 0ns, kStart);
  ASSERT_TRUE(policy.OnCrash(0, 0ns, kStart + 1ms).fatal);
  policy.Reset();
  EXPECT_FALSE(policy.fatal());
  EXPECT_EQ(policy.crashes_in_period(kStart + 2ms), 0u);
  auto d = policy.OnCrash(0, 0ns, kStart + 2ms);
  EXPECT_FALSE(d.fatal);
  ExpectJittered(d.delay, 10ms, 1s);  // the slot's backoff was forgotten too
}

TEST(RestartPolicyTest, ExitHundredIsPermanent) {
  EXPECT_TRUE(IsPermanentExit(100));
  EXPECT_TRUE(IsPermanentExit(kPermanentExitCode));
  for (int code : {0, 1, 101, 111, 127, 255}) EXPECT_FALSE(IsPermanentExit(code)) << code;
}

}  // namespace
}  // namespace sv::supervisor
