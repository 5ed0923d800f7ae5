// A worker slot's lifecycle as a pure state machine: Step(state, event) gives
// the next state and the one action the supervisor's loop (or the caller
// thread that owns a call) then performs. No processes, no clocks: testable
// on its own. Used in the trusted process.
#pragma once

#include <cstdint>
#include <string_view>

namespace sv::supervisor {

enum class WorkerState : std::uint8_t {
  kStarting,  // spawned, waiting for the ready report (start_timeout)
  kReady,     // idle, may take a call
  kBusy,      // one call in flight
  kStopping,  // told to stop or killed; waiting for the exit
  kExited,    // gone and not coming back (pool stopped or shrunk)
  kBackoff,   // gone after a failure; a replacement starts when the backoff ends
  kFatal,     // gone, and the pool gave up restarting it
  kStopped,   // gone, held down by an operator: nothing restarts it until a start request
};

enum class WorkerEvent : std::uint8_t {
  kReady,          // the worker answered the hello
  kStartTimedOut,  // no hello within start_timeout
  kCallStarted,    // a caller took the worker
  kCallFinished,   // the call returned and the worker serves on
  kCallRecycle,    // the call returned and the worker is due for recycling
  kCallFailed,     // deadline passed, or the worker broke the protocol or died: it must die now
  kStopRequested,  // pool stop, shrink, or restart of this worker
  kStopTimedOut,   // stop_timeout passed while stopping
  kExitedStop,     // exited, and nothing is to replace it (stopping, shrinking)
  kExitedReplace,  // exited, and a replacement starts at once (recycle, operator restart)
  kExitedBackoff,  // exited after a failure; the restart policy chose a delay
  kExitedFatal,    // exited after a failure; the restart policy gave up
  kBackoffEnded,   // the backoff delay passed
  kHoldRequested,  // an operator stops this one slot; it stays down (kStopped)
  kExitedHeld,     // exited, and the slot is held down by an operator
  kStartRequested, // an operator starts a held slot again
};

enum class WorkerAction : std::uint8_t {
  kNone,
  kRelease,       // the worker is free: hand it to a waiting caller
  kSendStop,      // ask the worker to exit (channel stop request), arm stop_timeout
  kAwaitCall,     // let the call in flight finish, but arm stop_timeout
  kKill,          // SIGKILL the worker's whole tree now
  kSpawn,         // start a new worker in this slot (arms start_timeout)
  kArmBackoff,    // arm the backoff timer chosen by the restart policy
  kRemove,        // the slot is done: forget it
  kReportFatal,   // the slot gave up: the pool turns FATAL
  kPark,          // the slot has no process and keeps its place until a start request
};

struct Transition {
  WorkerState state;
  WorkerAction action;
  friend bool operator==(Transition, Transition) = default;
};

// The next state and action. An event that does not apply in `state` (a late
// timer, a stop request for a slot already gone) leaves the state and does
// nothing: events race, and the loop may deliver a stale one.
Transition Step(WorkerState state, WorkerEvent event);

std::string_view WorkerStateName(WorkerState state);  // "STARTING", "READY", ...
std::string_view WorkerEventName(WorkerEvent event);

}  // namespace sv::supervisor
