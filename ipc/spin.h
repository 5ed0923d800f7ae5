// How long a channel waiter spins before it sleeps in FUTEX_WAIT. Used on both
// sides of a channel, in the trusted process and in the worker.
#pragma once

#include <chrono>
#include <cstdint>

namespace sv::ipc {

// Spinning pays only when the other side answers within the budget and runs
// on another core: a futex sleep and wake-up costs ~10 us on two cores, a spin
// that catches the answer ~0.3 us, and spinning while the other side needs the
// same core (one CPU, or the other one busy) only delays the very answer it
// waits for.
struct SpinOptions {
  // Longest spin. Zero disables spinning.
  std::chrono::nanoseconds budget = std::chrono::microseconds(50);
  // Adaptive (the default): spin only while this process may run on two or
  // more CPUs and spins keep catching the answer. Otherwise always spin the
  // full budget.
  bool adaptive = true;
};

// Decides each wait's spin from the options and the waits before it. Adaptive
// mode spins while spins catch the answer within the budget; after
// kMissesBeforeBackoff misses in a row (the answer came later, or the spin held
// the core the other side needed) it spins on every 2nd, 4th, ... up to every
// kMaxInterval-th wait only, and one catch restores spinning on every wait.
// Not thread-safe: one per waiting side of a channel.
class SpinPolicy {
 public:
  explicit SpinPolicy(SpinOptions options = {});

  // How long the next wait should spin before sleeping.
  std::chrono::nanoseconds Budget();
  // Reports how the wait that followed the last Budget() ended: how long it
  // took from its start, and whether the answer came while spinning.
  void Record(std::chrono::nanoseconds waited, bool while_spinning);

  static constexpr std::uint32_t kMissesBeforeBackoff = 3;
  static constexpr std::uint32_t kMaxInterval = 32;

 private:
  std::chrono::nanoseconds budget_;
  bool adaptive_;
  bool spun_ = false;           // whether the last Budget() said to spin
  std::uint32_t misses_ = 0;    // spins in a row that missed
  std::uint32_t interval_ = 1;  // spin on every interval_-th wait
  std::uint32_t skipped_ = 0;   // waits without a spin since the last spin
};

// CPUs this process may run on (sched_getaffinity), at least 1.
int UsableCpus();

// One CPU pause instruction: what a spin loop does between checks.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace sv::ipc
