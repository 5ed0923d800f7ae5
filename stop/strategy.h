// How stop-aware calls (stop/calls.h) make "check the stop flag, then enter the
// system call" atomic, and the process-wide set-up that the strategies need.
// Runs in any process that stops its own (trusted) threads: supervisor, worker.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/error.h"

namespace sv::stop {

enum class Strategy : std::uint8_t {
  // An rseq critical section (x86-64) whose last instruction is `syscall`: a
  // wake-up signal arriving between the flag check and the syscall makes the
  // kernel move the thread to the abort handler, which sees the flag. Uses
  // glibc's rseq registration, or registers the thread's area itself when glibc
  // did not (GLIBC_TUNABLES=glibc.pthread.rseq=0). A thread whose area cannot be
  // registered falls back to kSignalPc for its calls.
  kRseq,
  // The same critical section without rseq (x86-64): the wake-up signal handler
  // looks at the interrupted instruction pointer and, if it lies between the flag
  // check and the `syscall` instruction, moves it to the "stopped" exit. This is
  // how musl makes thread cancellation race-free.
  kSignalPc,
  // Signal masks only (any architecture): the wake-up signal stays blocked in the
  // thread and is unblocked atomically by ppoll/epoll_pwait; futex waits use
  // futex_waitv on the user's word and a per-thread stop word (Linux >= 5.16).
  // A raw SyscallOrStop() is not available: no generic syscall takes a mask.
  kSigmask,
  // No signal at all (any architecture): each thread has an eventfd that the stop
  // callback writes; descriptor waits poll it next to the caller's descriptors
  // (an eventfd keeps its count, so a stop before the poll is still seen), and
  // futex waits use futex_waitv as under kSigmask. The fastest wake-up: a signal
  // costs more than an eventfd write on the waking side. A raw SyscallOrStop()
  // is not available.
  kEventFd,
};

// "rseq", "signal-pc", "sigmask", "eventfd".
std::string_view StrategyName(Strategy strategy);

struct Options {
  // The wake-up signal; 0 picks the default, SIGRTMIN+3. SIGUSR1, SIGUSR2 or a
  // real-time signal. It is installed without SA_RESTART and belongs to this
  // library from then on: threads that make stop-aware calls must not block it
  // (the library manages its mask in those threads).
  int signal = 0;
  // nullopt picks the best available: rseq, then signal-pc, then sigmask.
  std::optional<Strategy> strategy;
};

// Installs the wake-up signal handler and picks the strategy. Idempotent for the
// same signal. Fails with kInUse, naming the signal, if the application already
// has a handler (or SIG_IGN) on it: the library never steals a signal. Fails with
// kInvalidArgument for an unusable signal and kUnsupported for an unavailable
// strategy. Stop-aware calls call Init({}) themselves on first use, so calling it
// is only needed to choose options or to learn about a failure early.
[[nodiscard]] std::expected<Strategy, Error> Init(const Options& options = {});

// The strategy calls use now; initialises with default options if needed.
[[nodiscard]] std::expected<Strategy, Error> ActiveStrategy();

// Whether `strategy` works in this process on this machine.
bool Available(Strategy strategy);

// Switches the process-wide strategy at run time (tests and benchmarks compare
// strategies in one process). Calls already blocked keep the one they started with.
[[nodiscard]] Status SetStrategy(Strategy strategy);

// The wake-up signal number once initialised, else 0.
int WakeSignal();

// Counters of the calling thread, for benchmarks and diagnostics.
struct ThreadStats {
  std::uint64_t rseq_restarts = 0;  // rseq sections aborted by preemption or migration, then retried
  std::uint64_t rseq_stops = 0;     // rseq sections aborted by the wake-up: a stop inside the window
  std::uint64_t pc_redirects = 0;   // signal-pc handler moved the thread to the stopped exit
};
ThreadStats ThisThreadStats();

}  // namespace sv::stop
