// How long a channel waiter spins before it sleeps in FUTEX_WAIT. Used on both
// sides of a channel, in the trusted process and in the worker.
#pragma once

#include <chrono>
#include <cstdint>

namespace sv::ipc {

// Spinning pays only when the other side answers within the budget and runs
// on another core: a futex sleep and wake-up costs ~10 us on two cores, a spin
// that catches the answer ~0.3 us, and spinning on a shared core delays the
// very process it waits for.
struct SpinOptions {
  // Longest spin. Zero disables spinning.
  std::chrono::nanoseconds budget = std::chrono::microseconds(20);
  // Adaptive (the default): spin only while this process may run on two or
  // more CPUs and recent waits ended within the budget. Otherwise always spin
  // the full budget.
  bool adaptive = true;
};

// Decides each wait's spin from the options and the waits before it. Not
// thread-safe: one per waiting side of a channel.
class SpinPolicy {
 public:
  explicit SpinPolicy(SpinOptions options = {});

  // How long the next wait should spin before sleeping.
  std::chrono::nanoseconds Budget();
  // Reports how long a wait took from start to end, and whether it ended
  // while spinning (without sleeping).
  void Record(std::chrono::nanoseconds waited, bool while_spinning);

 private:
  std::chrono::nanoseconds budget_;
  bool adaptive_;
  // Moving average of recent waits, in ns (1/8 weight per new wait).
  std::int64_t average_ns_ = 0;
  // Waits since the last spin; while spinning is off, every kProbeEvery-th wait
  // spins anyway to find out whether calls became fast again.
  std::uint32_t since_spin_ = 0;
  static constexpr std::uint32_t kProbeEvery = 32;
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
