// The worker lifecycle table, without processes.
#include "supervisor/lifecycle.h"

#include <gtest/gtest.h>

namespace sv::supervisor {
namespace {

using S = WorkerState;
using E = WorkerEvent;
using A = WorkerAction;

TEST(LifecycleTest, AWorkerStartsServesAndReturnsToReady) {
  EXPECT_EQ(Step(S::kStarting, E::kReady), (Transition{S::kReady, A::kRelease}));
  EXPECT_EQ(Step(S::kReady, E::kCallStarted), (Transition{S::kBusy, A::kNone}));
  EXPECT_EQ(Step(S::kBusy, E::kCallFinished), (Transition{S::kReady, A::kRelease}));
}

TEST(LifecycleTest, AFailedCallKillsTheWorker) {
  EXPECT_EQ(Step(S::kBusy, E::kCallFailed), (Transition{S::kStopping, A::kKill}));
  EXPECT_EQ(Step(S::kStopping, E::kExitedReplace), (Transition{S::kStarting, A::kSpawn}));
}

TEST(LifecycleTest, RecyclingStopsTheWorkerBetweenCalls) {
  EXPECT_EQ(Step(S::kBusy, E::kCallRecycle), (Transition{S::kStopping, A::kSendStop}));
  EXPECT_EQ(Step(S::kStopping, E::kStopTimedOut), (Transition{S::kStopping, A::kKill}));
}

TEST(LifecycleTest, StopDependsOnWhatTheWorkerDoes) {
  EXPECT_EQ(Step(S::kReady, E::kStopRequested), (Transition{S::kStopping, A::kSendStop}));
  EXPECT_EQ(Step(S::kBusy, E::kStopRequested), (Transition{S::kStopping, A::kAwaitCall}));
  EXPECT_EQ(Step(S::kStarting, E::kStopRequested), (Transition{S::kStopping, A::kKill}));
  EXPECT_EQ(Step(S::kBackoff, E::kStopRequested), (Transition{S::kExited, A::kRemove}));
  EXPECT_EQ(Step(S::kFatal, E::kStopRequested), (Transition{S::kExited, A::kRemove}));
  // The call in flight finished after the stop request: now the stop goes out.
  EXPECT_EQ(Step(S::kStopping, E::kCallFinished), (Transition{S::kStopping, A::kSendStop}));
  EXPECT_EQ(Step(S::kStopping, E::kExitedStop), (Transition{S::kExited, A::kRemove}));
}

TEST(LifecycleTest, CrashesBackOffOrGiveUp) {
  EXPECT_EQ(Step(S::kBusy, E::kExitedBackoff), (Transition{S::kBackoff, A::kArmBackoff}));
  EXPECT_EQ(Step(S::kBackoff, E::kBackoffEnded), (Transition{S::kStarting, A::kSpawn}));
  EXPECT_EQ(Step(S::kReady, E::kExitedFatal), (Transition{S::kFatal, A::kReportFatal}));
  EXPECT_EQ(Step(S::kStarting, E::kStartTimedOut), (Transition{S::kStopping, A::kKill}));
}

TEST(LifecycleTest, AHeldSlotStopsLikeAPoolAndParksOnExit) {
  EXPECT_EQ(Step(S::kReady, E::kHoldRequested), (Transition{S::kStopping, A::kSendStop}));
  EXPECT_EQ(Step(S::kBusy, E::kHoldRequested), (Transition{S::kStopping, A::kAwaitCall}));
  EXPECT_EQ(Step(S::kStarting, E::kHoldRequested), (Transition{S::kStopping, A::kKill}));
  EXPECT_EQ(Step(S::kBackoff, E::kHoldRequested), (Transition{S::kStopped, A::kPark}));
  EXPECT_EQ(Step(S::kStopping, E::kHoldRequested), (Transition{S::kStopping, A::kNone}));
  EXPECT_EQ(Step(S::kFatal, E::kHoldRequested), (Transition{S::kFatal, A::kNone}));
  EXPECT_EQ(Step(S::kStopping, E::kExitedHeld), (Transition{S::kStopped, A::kPark}));
  EXPECT_EQ(Step(S::kBusy, E::kExitedHeld), (Transition{S::kStopped, A::kPark}));
}

TEST(LifecycleTest, AStoppedSlotStartsOnlyOnRequestAndLeavesWithThePool) {
  EXPECT_EQ(Step(S::kStopped, E::kStartRequested), (Transition{S::kStarting, A::kSpawn}));
  EXPECT_EQ(Step(S::kStopped, E::kStopRequested), (Transition{S::kExited, A::kRemove}));
  for (E event : {E::kReady, E::kStartTimedOut, E::kCallStarted, E::kCallFinished, E::kCallFailed, E::kStopTimedOut,
                  E::kBackoffEnded, E::kHoldRequested, E::kExitedStop, E::kExitedHeld, E::kExitedReplace,
                  E::kExitedBackoff, E::kExitedFatal}) {
    EXPECT_EQ(Step(S::kStopped, event), (Transition{S::kStopped, A::kNone})) << WorkerEventName(event);
  }
  for (S state : {S::kStarting, S::kReady, S::kBusy, S::kStopping, S::kBackoff, S::kExited, S::kFatal}) {
    EXPECT_EQ(Step(state, E::kStartRequested), (Transition{state, A::kNone})) << WorkerStateName(state);
  }
  EXPECT_EQ(WorkerStateName(S::kStopped), "STOPPED");
}

TEST(LifecycleTest, StaleEventsChangeNothing) {
  for (S state : {S::kExited, S::kFatal}) {
    for (E event : {E::kReady, E::kStartTimedOut, E::kCallStarted, E::kCallFinished, E::kStopTimedOut,
                    E::kBackoffEnded, E::kExitedBackoff, E::kExitedHeld, E::kStartRequested}) {
      EXPECT_EQ(Step(state, event), (Transition{state, A::kNone})) << WorkerStateName(state) << " "
                                                                    << WorkerEventName(event);
    }
  }
  EXPECT_EQ(Step(S::kReady, E::kBackoffEnded), (Transition{S::kReady, A::kNone}));
  EXPECT_EQ(Step(S::kBackoff, E::kExitedBackoff), (Transition{S::kBackoff, A::kNone}));
}

}  // namespace
}  // namespace sv::supervisor
