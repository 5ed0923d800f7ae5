// The spin policy's decisions: pure, no processes. Each test feeds it waits
// whose length depends on whether it chose to spin, as a real channel would.
#include "ipc/spin.h"

#include <gtest/gtest.h>

#include <functional>

namespace sv::ipc {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

// How a wait ended, as the channel reports it.
struct Wait {
  std::chrono::microseconds took;
  bool while_spinning;
};

// Runs `waits` waits; `wait(spun)` says how each ended. Returns how many spun.
int Feed(SpinPolicy& policy, int waits, const std::function<Wait(bool)>& wait) {
  int spins = 0;
  for (int i = 0; i < waits; ++i) {
    const bool spun = policy.Budget() > nanoseconds(0);
    spins += spun;
    Wait w = wait(spun);
    policy.Record(w.took, w.while_spinning);
  }
  return spins;
}

// The answer comes after `answer`; a spin of 20 us catches it if it is sooner.
std::function<Wait(bool)> AnswerAfter(microseconds answer) {
  return [answer](bool spun) {
    if (spun && answer <= microseconds(20)) return Wait{answer, true};
    return Wait{answer + microseconds(6), false};
  };
}

void SkipOnOneCpu() {
  if (UsableCpus() < 2) GTEST_SKIP() << "adaptive spinning is off on one CPU";
}

TEST(SpinPolicyTest, ZeroBudgetNeverSpins) {
  SpinPolicy policy({.budget = nanoseconds(0)});
  EXPECT_EQ(Feed(policy, 100, AnswerAfter(microseconds(1))), 0);
}

TEST(SpinPolicyTest, FixedBudgetAlwaysSpins) {
  SpinPolicy policy({.budget = microseconds(5), .adaptive = false});
  EXPECT_EQ(Feed(policy, 100, AnswerAfter(microseconds(500))), 100);
  EXPECT_EQ(policy.Budget(), microseconds(5));
}

TEST(SpinPolicyTest, AdaptiveKeepsSpinningWhileSpinsCatchTheAnswer) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  EXPECT_EQ(Feed(policy, 320, AnswerAfter(microseconds(1))), 320);
}

TEST(SpinPolicyTest, AdaptiveBacksOffForSlowCalls) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  Feed(policy, 200, AnswerAfter(microseconds(1000)));
  // At most one spin in kMaxInterval waits once backed off.
  EXPECT_EQ(Feed(policy, 320, AnswerAfter(microseconds(1000))), 320 / SpinPolicy::kMaxInterval);
}

TEST(SpinPolicyTest, AdaptiveCountsAPreemptedSpinAsAMiss) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  // Both sides share a core: the answer is seen while spinning, but only after
  // the spinner was preempted by the process it waited for.
  auto shared_core = [](bool spun) { return spun ? Wait{microseconds(27), true} : Wait{microseconds(6), false}; };
  Feed(policy, 200, shared_core);
  EXPECT_EQ(Feed(policy, 320, shared_core), 320 / SpinPolicy::kMaxInterval);
}

TEST(SpinPolicyTest, OneCatchRestoresSpinning) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  Feed(policy, 200, AnswerAfter(microseconds(1000)));
  // The next probing spin catches a now fast answer; from then on every wait spins.
  Feed(policy, SpinPolicy::kMaxInterval, AnswerAfter(microseconds(1)));
  EXPECT_EQ(Feed(policy, 100, AnswerAfter(microseconds(1))), 100);
}

TEST(SpinPolicyTest, AFewMissesDoNotStopSpinning) {
  SkipOnOneCpu();
  SpinPolicy policy({.budget = microseconds(20)});
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Feed(policy, int{SpinPolicy::kMissesBeforeBackoff} - 1, AnswerAfter(microseconds(1000))),
              int{SpinPolicy::kMissesBeforeBackoff} - 1);
    EXPECT_EQ(Feed(policy, 1, AnswerAfter(microseconds(1))), 1);
  }
}

using Clock = std::chrono::steady_clock;

TEST(SpinUntilTest, ZeroBudgetReturnsAtOnceWithoutLooking) {
  int looks = 0;
  SpinOutcome out = SpinUntil(nanoseconds(0), Clock::time_point::max(), [&] { return ++looks, true; }, [] { return false; });
  EXPECT_FALSE(out.caught);
  EXPECT_EQ(looks, 0);
}

TEST(SpinUntilTest, AQuickCatchReadsNoClock) {
  int looks = 0;
  SpinOutcome out = SpinUntil(microseconds(50), Clock::time_point::max(), [&] { return ++looks == 3; }, [] { return false; });
  EXPECT_TRUE(out.caught);
  EXPECT_EQ(looks, 3);
  EXPECT_EQ(out.took, nanoseconds(0));  // caught before the first clock read
}

TEST(SpinUntilTest, ALaterCatchIsTimedUpToTheLastClockRead) {
  const Clock::time_point begin = Clock::now();
  int looks = 0;
  SpinOutcome out = SpinUntil(std::chrono::seconds(10), Clock::time_point::max(), [&] { return ++looks == 1000; },
                              [] { return false; });
  EXPECT_TRUE(out.caught);
  EXPECT_GE(out.took, nanoseconds(0));
  EXPECT_LE(out.took, Clock::now() - begin);
}

TEST(SpinUntilTest, EndsAtTheBudget) {
  const Clock::time_point begin = Clock::now();
  SpinOutcome out = SpinUntil(microseconds(200), Clock::time_point::max(), [] { return false; }, [] { return false; });
  EXPECT_FALSE(out.caught);
  EXPECT_GE(Clock::now() - begin, microseconds(200));
  EXPECT_GE(out.took, microseconds(200) - microseconds(1));
}

TEST(SpinUntilTest, NeverSpinsPastTheCap) {
  int looks = 0;
  // A cap already past: the first clock read ends the spin.
  SpinOutcome out = SpinUntil(std::chrono::seconds(30), Clock::now() - microseconds(1), [&] { return ++looks, false; },
                              [] { return false; });
  EXPECT_FALSE(out.caught);
  EXPECT_EQ(looks, int{kSpinRoundsPerClockRead});
}

TEST(SpinUntilTest, GivesUpWhenAsked) {
  int asked = 0;
  SpinOutcome out = SpinUntil(std::chrono::seconds(30), Clock::time_point::max(), [] { return false; },
                              [&] { return ++asked == 2; });
  EXPECT_FALSE(out.caught);
  EXPECT_EQ(asked, 2);
}

// SpinWithReports with a report on every look: `take` says what each was.
template <class Take>
SpinOutcome SpinOnReports(nanoseconds budget, Clock::time_point cap, Take take, bool* answered = nullptr) {
  return SpinWithReports(
      budget, cap, [&] { return answered != nullptr && *answered; }, [] { return true; }, take,
      [] { return false; });
}

TEST(SpinWithReportsTest, AnAnswerAfterReportsIsCaught) {
  bool answered = false;
  int reports = 0;
  SpinOutcome out = SpinOnReports(
      std::chrono::seconds(30), Clock::time_point::max(),
      [&] {
        answered = ++reports == 5;
        return Report::kMore;
      },
      &answered);
  EXPECT_TRUE(out.caught);
  EXPECT_EQ(reports, 5);
}

TEST(SpinWithReportsTest, ReportsOfNothingNewBuyNoMoreSpinning) {
  // Reports on every look, none of progress: the first budget still ends it.
  const Clock::time_point begin = Clock::now();
  int reports = 0;
  SpinOutcome out = SpinOnReports(microseconds(500), Clock::time_point::max(), [&] {
    ++reports;
    return Report::kNothing;
  });
  EXPECT_FALSE(out.caught);
  EXPECT_GT(reports, 1);
  EXPECT_GE(Clock::now() - begin, microseconds(500));
}

TEST(SpinWithReportsTest, ProgressBuysAnotherBudgetButNeverPastTheCap) {
  // Progress on every look, forever: only the cap ends it.
  const Clock::time_point cap = Clock::now() + std::chrono::milliseconds(20);
  int reports = 0;
  SpinOutcome out = SpinOnReports(microseconds(100), cap, [&] {
    ++reports;
    return Report::kMore;
  });
  EXPECT_FALSE(out.caught);
  EXPECT_GE(Clock::now(), cap);
  EXPECT_GT(reports, 1);
}

TEST(SpinWithReportsTest, AFailedReportEndsTheSpinAtOnce) {
  int reports = 0;
  SpinOutcome out = SpinOnReports(std::chrono::seconds(30), Clock::time_point::max(), [&] {
    ++reports;
    return Report::kFailed;
  });
  EXPECT_FALSE(out.caught);
  EXPECT_EQ(reports, 1);
}

}  // namespace
}  // namespace sv::ipc
