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
  std::chrono::nanoseconds budget = std::chrono::microseconds(20);
  // Adaptive (the default): spin only while this process may run on two or
  // more CPUs and spinning measurably shortens the waits. Otherwise always
  // spin the full budget.
  bool adaptive = true;
};

// Decides each wait's spin from the options and the waits before it. Adaptive
// mode keeps a moving average of how long waits took with and without a spin
// and picks the cheaper; every kExploreEvery-th wait tries the other one, so a
// change (calls got slower, a core got busy) is noticed. Not thread-safe: one
// per waiting side of a channel.
class SpinPolicy {
 public:
  explicit SpinPolicy(SpinOptions options = {});

  // How long the next wait should spin before sleeping.
  std::chrono::nanoseconds Budget();
  // Reports how long the wait that followed the last Budget() took, from
  // start to end, spin and sleep included.
  void Record(std::chrono::nanoseconds waited);

  static constexpr std::uint32_t kExploreEvery = 32;

 private:
  std::chrono::nanoseconds budget_;
  bool adaptive_;
  bool spun_ = false;  // whether the last Budget() said to spin
  std::uint32_t waits_ = 0;
  // Moving averages (1/8 weight per new wait) in ns; -1 until measured.
  std::int64_t with_spin_ns_ = -1;
  std::int64_t without_spin_ns_ = -1;
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
