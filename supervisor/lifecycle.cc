#include "supervisor/lifecycle.h"

namespace sv::supervisor {
namespace {

using S = WorkerState;
using E = WorkerEvent;
using A = WorkerAction;

constexpr Transition Stay(S state) { return {state, A::kNone}; }

// Exits are handled alike in every state but kExited/kFatal: the process is gone.
Transition OnExit(S state, E event) {
  if (state == S::kExited || state == S::kFatal || state == S::kBackoff) return Stay(state);
  switch (event) {
    case E::kExitedStop: return {S::kExited, A::kRemove};
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
    case S::kFatal: return {S::kExited, A::kRemove};
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
    case E::kExitedStop:
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
  }
  return "?";
}

}  // namespace sv::supervisor
