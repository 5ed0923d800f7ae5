// The spin policy's decisions: pure, no processes.
#include "ipc/spin.h"

#include <gtest/gtest.h>

namespace sv::ipc {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

TEST(SpinPolicyTest, ZeroBudgetNeverSpins) {
  SpinPolicy policy({.budget = nanoseconds(0)});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(policy.Budget(), nanoseconds(0));
}

TEST(SpinPolicyTest, FixedBudgetAlwaysSpins) {
  SpinPolicy policy({.budget = microseconds(5), .adaptive = false});
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(policy.Budget(), microseconds(5));
    policy.Record(microseconds(500), false);
  }
}

TEST(SpinPolicyTest, AdaptiveStopsSpinningForSlowCallsButProbes) {
  if (UsableCpus() < 2) GTEST_SKIP() << "adaptive spinning is off on one CPU";
  SpinPolicy policy({.budget = microseconds(20)});
  EXPECT_EQ(policy.Budget(), microseconds(20));
  for (int i = 0; i < 64; ++i) policy.Record(microseconds(1000), false);
  int spins = 0;
  for (int i = 0; i < 320; ++i) {
    if (policy.Budget() > nanoseconds(0)) ++spins;
    policy.Record(microseconds(1000), false);
  }
  EXPECT_EQ(spins, 10);  // one probe in 32 waits
}

TEST(SpinPolicyTest, AdaptiveResumesWhenAProbeCatchesTheAnswer) {
  if (UsableCpus() < 2) GTEST_SKIP() << "adaptive spinning is off on one CPU";
  SpinPolicy policy({.budget = microseconds(20)});
  for (int i = 0; i < 64; ++i) policy.Record(microseconds(1000), false);
  while (policy.Budget() == nanoseconds(0)) policy.Record(microseconds(1000), false);
  policy.Record(microseconds(2), true);
  EXPECT_EQ(policy.Budget(), microseconds(20));
}

TEST(SpinPolicyTest, AdaptiveKeepsSpinningWhenSleepsAreShort) {
  if (UsableCpus() < 2) GTEST_SKIP() << "adaptive spinning is off on one CPU";
  SpinPolicy policy({.budget = microseconds(20)});
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(policy.Budget(), microseconds(20));
    policy.Record(microseconds(12), false);  // missed the spin, but a short sleep
  }
}

}  // namespace
}  // namespace sv::ipc
