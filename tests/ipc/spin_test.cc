// The spin policy's decisions: pure, no processes. Each test feeds it waits
// whose length depends on whether it chose to spin, as a real channel would.
#include "ipc/spin.h"

#include <gtest/gtest.h>

#include <functional>

namespace sv::ipc {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

// Runs `waits` waits; `cost(spun)` is how long each took. Returns how many spun.
int Feed(SpinPolicy& policy, int waits, const std::function<microseconds(bool)>& cost) {
  int spins = 0;
  for (int i = 0; i < waits; ++i) {
    const bool spun = policy.Budget() > nanoseconds(0);
    spins += spun;
    policy.Record(cost(spun));
  }
  return spins;
}

void SkipOnOneCpu() {
  if (UsableCpus() < 2) GTEST_SKIP() << "adaptive spinning is off on one CPU";
}

TEST(SpinPolicyTest, ZeroBudgetNeverSpins) {
  SpinPolicy policy({.budget = nanoseconds(0)});
  EXPECT_EQ(Feed(policy, 100, [](bool) { return microseconds(1); }), 0);
}

TEST(SpinPolicyTest, FixedBudgetAlwaysSpins) {
  SpinPolicy policy({.budget = microseconds(5), .adaptive = false});
  EXPECT_EQ(Feed(policy, 100, [](bool) { return microseconds(500); }), 100);
  EXPECT_EQ(policy.Budget(), microseconds(5));
}

TEST(SpinPolicyTest, AdaptiveSpinsWhenTheSpinCatchesTheAnswer) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  Feed(policy, 64, [](bool spun) { return spun ? microseconds(1) : microseconds(10); });
  // Only the exploring waits sleep.
  EXPECT_EQ(Feed(policy, 320, [](bool spun) { return spun ? microseconds(1) : microseconds(10); }), 310);
}

TEST(SpinPolicyTest, AdaptiveStopsSpinningForSlowCalls) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  // The answer comes after the budget either way: spinning only adds work.
  auto slow = [](bool spun) { return spun ? microseconds(1008) : microseconds(1006); };
  Feed(policy, 64, slow);
  EXPECT_EQ(Feed(policy, 320, slow), 10);
}

TEST(SpinPolicyTest, AdaptiveStopsSpinningWhenItDelaysTheOtherSide) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  // Both sides share a busy core: the spin holds the CPU the answer needs.
  auto contended = [](bool spun) { return spun ? microseconds(27) : microseconds(6); };
  Feed(policy, 64, contended);
  EXPECT_EQ(Feed(policy, 320, contended), 10);
}

TEST(SpinPolicyTest, AdaptiveResumesSpinningWhenItPaysAgain) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  Feed(policy, 320, [](bool spun) { return spun ? microseconds(27) : microseconds(6); });
  Feed(policy, 32 * 24, [](bool spun) { return spun ? microseconds(1) : microseconds(10); });
  EXPECT_GE(Feed(policy, 320, [](bool spun) { return spun ? microseconds(1) : microseconds(10); }), 300);
}

}  // namespace
}  // namespace sv::ipc
