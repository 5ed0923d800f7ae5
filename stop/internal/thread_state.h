// Per-thread state behind the stop-aware calls, and the raw blocking syscall
// paths of each strategy. Internal to stop/.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <stop_token>

#include "stop/strategy.h"

namespace sv::stop::internal {

// What the assembly stubs (syscall_x86_64.S) read; keep offsets in sync.
struct SyscallFrame {
  const std::atomic<std::uint32_t>* stop_word;  // 0: non-zero = stop requested
  std::uint64_t* rseq_cs;                       // 8: &rseq->rseq_cs of this thread
  std::uint64_t* aborts;                        // 16: [0] restarts, [1] stops caught by an abort
  std::uint64_t window_spins;                   // 24: pause loops after the check
  long nr;                                      // 32: system call number
  long args[6];                                 // 40: its arguments
  std::atomic<bool>* in_stub;                   // 88: signal-pc stub sets 1 on entry, 0 on exit
};
static_assert(offsetof(SyscallFrame, nr) == 32 && offsetof(SyscallFrame, args) == 40 &&
              offsetof(SyscallFrame, in_stub) == 88);
static_assert(sizeof(std::atomic<bool>) == 1 && std::atomic<bool>::is_always_lock_free);

// Returned in rax:rdx by the stubs.
struct RawResult {
  long value;    // the syscall's return value (-errno on error)
  long stopped;  // 1 when the syscall was skipped because of a stop
};

enum class MaskState : std::uint8_t { kUnknown, kUnblocked, kBlocked };
enum class RseqState : std::uint8_t { kUnknown, kUsable, kUnusable };

// One per thread, alive as long as the thread. The stop callback of a call (run
// by the stopping thread) writes stop_word and signals the thread; everything
// else is touched only by the owning thread and its signal handler.
struct ThreadState {
  // Reset to 0 when a call starts; set to 1 by the call's stop callback before it
  // sends the wake-up. 32-bit aligned: it is also a futex word (kSigmask).
  std::atomic<std::uint32_t> stop_word{0};
  pid_t tid = 0;
  MaskState mask = MaskState::kUnknown;
  RseqState rseq = RseqState::kUnknown;
  std::uint64_t* rseq_cs = nullptr;
  sigset_t ppoll_mask{};  // the thread's mask minus the wake-up signal
  std::uint32_t window_spins = 0;
  std::uint64_t rseq_aborts[2] = {0, 0};  // restarts, stops caught by an abort
  std::atomic<std::uint64_t> pc_redirects{0};  // written by the signal handler
  // True while the thread runs the signal-pc stub (written by the stub itself);
  // read by the signal handler. A siglongjmp out of the stub would leave it set:
  // harmless, the handler then only re-raises a wake-up that has a stop word set.
  std::atomic<bool> in_pc_stub{false};
  // kEventFd: this thread's wake-up eventfd (created on first use, closed when
  // the thread exits), and whether a stop callback wrote to it since it was
  // last drained.
  int stop_fd = -1;  // kStopFdGone once the thread's thread_locals are destroyed
  std::atomic<bool> stop_fd_written{false};
};

ThreadState& CurrentThread();
// Called in the child after fork(): the forking thread has a new tid there.
void ResetThreadAfterFork();

// Process-wide configuration, set by Init/SetStrategy.
Strategy CurrentStrategy();
bool Initialized();
int Signal();
// getpid(), cached: the stop callback sits on the stop-latency path.
pid_t ProcessId();

// How a call's stop callback wakes its thread.
enum WakeMode : std::uint8_t { kWakeSignal = 1, kWakeFutex = 2, kWakeEventFd = 4 };

// Registers the call's wake-up for the lifetime of this object. Resets the stop
// word first, so a stop of an earlier token does not leak into this call. On
// destruction, once the callback is gone (and with it any tgkill in flight), a
// wake-up still pending on this thread is taken here, inside the library, rather
// than interrupting the application's next system call.
class CallScope {
 public:
  CallScope(const std::stop_token& token, ThreadState& thread, std::uint8_t wake_mode);
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  struct PendingWakeFlush {
    ThreadState* thread;
    std::uint8_t mode;
    ~PendingWakeFlush();
  };

  struct Waker {
    ThreadState* thread;
    std::uint8_t mode;
    void operator()() const noexcept;
  };
  static const std::stop_token& ResetFirst(const std::stop_token& token, ThreadState& thread);
  PendingWakeFlush flush_;  // declared first: destroyed after callback_
  std::stop_callback<Waker> callback_;
};

// kEventFd: this thread's wake-up eventfd, created on first use; -1 (errno set)
// when it cannot be created. kStopFdGone after the thread's thread_local
// destructors closed it (a call from a later destructor must not use the number).
inline constexpr int kStopFdGone = -2;
int StopFd(ThreadState& thread);

// Makes the wake-up signal blocked (kSigmask) or unblocked (the others) in the
// calling thread; a system call only when the thread's state must change.
void EnsureMask(ThreadState& thread, MaskState wanted);

// The rseq_cs field of this thread's registered rseq area, registering it if
// glibc did not; nullptr when rseq cannot be used in this thread.
std::uint64_t* RseqField(ThreadState& thread);

// Issues frame.nr unless thread.stop_word is set, atomically with respect to the
// wake-up signal (kRseq or kSignalPc; x86-64 only). The caller has set the mask.
RawResult GuardedSyscall(Strategy strategy, ThreadState& thread, long nr, const long (&args)[6]);

// Whether this build has the x86-64 stubs.
bool HaveStubs();

}  // namespace sv::stop::internal
