#include "supervisor/lifecycle.h"

namespace sv::supervisor {
namespace {

using S = WorkerState;
using E = WorkerEvent;
using A = WorkerAction;

constexpr Transition Stay(S state) { return {state, A::kNone}; }

// Exits are handled alike in every state that has a process.
Transition OnExit(S state, E event) {
  if (state == S::kExited || state == S::kFatal || state == S::kBackoff || state == S::kStopped) return Stay(state);
  switch (event) {
    case E::kExitedStop: return {S::kExited, A::kRemove};
    case E::kExitedHeld: return {S::kStopped, A::kPark};
    case E::kExitedReplace: return {S::kStarting, A::kSpawn};
    case E::kExitedBackoff: return {S::kBackoff, A::kArmBackoff};
    default: return {S::kFatal, A::kReportFatal};
  }
}

Transition OnStop(S state) {
  switch (state) {
    case S::kReady: return {S::kStopping, A::kSendStop};
    case S::kBusy: return {S::kStopping, A::kAwaitCall};
    case S::kStarting: return {S::kStopping, A::kKill};
    case S::kBackoff:
    case S::kFatal:
    case S::kStopped: return {S::kExited, A::kRemove};
    default: return Stay(state);
  }
}

// An operator's stop of one slot: as a pool stop while there is a process
// (the exit then parks the slot); a slot backing off parks at once. A FATAL
// slot stays: the pool is going down.
Transition OnHold(S state) {
  switch (state) {
    case S::kReady: return {S::kStopping, A::kSendStop};
    case S::kBusy: return {S::kStopping, A::kAwaitCall};
    case S::kStarting: return {S::kStopping, A::kKill};
    case S::kBackoff: return {S::kStopped, A::kPark};
    default: return Stay(state);
  }
}

}  // namespace

Transition Step(WorkerState state, WorkerEvent event) {
  switch (event) {
    case E::kReady: return state == S::kStarting ? Transition{S::kReady, A::kRelease} : Stay(state);
    case E::kStartTimedOut: return state == S::kStarting ? Transition{S::kStopping, A::kKill} : Stay(state);
    case E::kCallStarted: return state == S::kReady ? Transition{S::kBusy, A::kNone} : Stay(state);
    case E::kCallFinished:
      if (state == S::kBusy) return {S::kReady, A::kRelease};
      // Stopped while the call ran: now it can go.
      return state == S::kStopping ? Transition{S::kStopping, A::kSendStop} : Stay(state);
    case E::kCallRecycle:
      return state == S::kBusy || state == S::kStopping ? Transition{S::kStopping, A::kSendStop} : Stay(state);
    case E::kCallFailed:
      return state == S::kBusy || state == S::kStopping ? Transition{S::kStopping, A::kKill} : Stay(state);
    case E::kStopRequested: return OnStop(state);
    case E::kStopTimedOut: return state == S::kStopping ? Transition{S::kStopping, A::kKill} : Stay(state);
    case E::kHoldRequested: return OnHold(state);
    case E::kStartRequested: return state == S::kStopped ? Transition{S::kStarting, A::kSpawn} : Stay(state);
    case E::kExitedStop:
    case E::kExitedHeld:
    case E::kExitedReplace:
    case E::kExitedBackoff:
    case E::kExitedFatal: return OnExit(state, event);
    case E::kBackoffEnded: return state == S::kBackoff ? Transition{S::kStarting, A::kSpawn} : Stay(state);
  }
  return Stay(state);
}

std::string_view WorkerStateName(WorkerState state) {
  switch (state) {
    case S::kStarting: return "STARTING";
    case S::kReady: return "READY";
    case S::kBusy: return "BUSY";
    case S::kStopping: return "STOPPING";
    case S::kExited: return "EXITED";
    case S::kBackoff: return "BACKOFF";
    case S::kFatal: return "FATAL";
    case S::kStopped: return "STOPPED";
  }
  return "?";
}

std::string_view WorkerEventName(WorkerEvent event) {
  switch (event) {
    case E::kReady: return "ready";
    case E::kStartTimedOut: return "start timed out";
    case E::kCallStarted: return "call started";
    case E::kCallFinished: return "call finished";
    case E::kCallRecycle: return "call finished, recycle due";
    case E::kCallFailed: return "call failed";
    case E::kStopRequested: return "stop requested";
    case E::kStopTimedOut: return "stop timed out";
    case E::kExitedStop: return "exited";
    case E::kExitedReplace: return "exited, to be replaced";
    case E::kExitedBackoff: return "exited, backing off";
    case E::kExitedFatal: return "exited, giving up";
    case E::kBackoffEnded: return "backoff ended";
    case E::kHoldRequested: return "stop of the slot requested";
    case E::kExitedHeld: return "exited, slot held";
    case E::kStartRequested: return "start of the slot requested";
  }
  return "?";
}

}  // namespace sv::supervisor
