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

// Inline: both run on every call.
inline std::chrono::nanoseconds SpinPolicy::Budget() {
  if (!adaptive_ || budget_.count() == 0) {
    spun_ = budget_.count() != 0;
    return budget_;
  }
  spun_ = interval_ == 1 || ++skipped_ >= interval_;
  if (!spun_) return std::chrono::nanoseconds(0);
  skipped_ = 0;
  return budget_;
}

inline void SpinPolicy::Record(std::chrono::nanoseconds waited, bool while_spinning) {
  if (!adaptive_ || !spun_) return;  // a wait without a spin says nothing about spinning
  // An answer caught after more than the budget means the spin was preempted,
  // most likely by the very process it waited for: a miss, too.
  if (while_spinning && waited <= budget_) {
    misses_ = 0;
    interval_ = 1;
    return;
  }
  if (++misses_ >= kMissesBeforeBackoff && interval_ < kMaxInterval) interval_ *= 2;
}

// CPUs this process may run on (sched_getaffinity), at least 1.
int UsableCpus();

// How a SpinUntil() ended.
struct SpinOutcome {
  bool caught;                    // done() became true while spinning
  std::chrono::nanoseconds took;  // from the first clock read to the last; zero when caught before the first
};

// One CPU pause instruction: what a spin loop does between checks.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Spins until done(), for up to `budget` but never past `cap`, giving up early
// when give_up() (checked with the clock) says so. The clock is read every
// kSpinRoundsPerClockRead rounds and never on the catch: the catch is on the
// path whose latency the caller sees, so `took` is measured to the last clock
// read before it (zero when the catch came before the first read). A spin
// preempted right before its catch thus counts as caught in time; a longer
// preemption shows at the next clock read, as a spin that ran out. A zero
// budget returns at once.
inline constexpr unsigned kSpinRoundsPerClockRead = 8;
template <class Done, class GiveUp>
SpinOutcome SpinUntil(std::chrono::nanoseconds budget, std::chrono::steady_clock::time_point cap, Done done,
                      GiveUp give_up) {
  using Clock = std::chrono::steady_clock;
  if (budget.count() <= 0) return {false, {}};
  Clock::time_point start, last, end;
  for (unsigned round = 1;; ++round) {
    if (done()) return {true, last - start};
    if (round % kSpinRoundsPerClockRead == 0) {
      last = Clock::now();
      if (round == kSpinRoundsPerClockRead) {
        start = last;
        end = cap - last < budget ? cap : last + budget;
      }
      if (last >= end || give_up()) return {false, last - start};
    }
    CpuRelax();
  }
}

// What a SpinWithReports() waiter made of a report from the other side.
enum class Report : std::uint8_t {
  kNothing,  // nothing new: spin on for what is left of the budget
  kMore,     // progress: the other side is busy on our behalf, spin another budget
  kFailed,   // stop waiting (the waiter recorded why)
};

// SpinUntil for a wait whose other side reports progress before it answers
// (a large input or output moving in steps): spins until answered(), and
// whenever reported() says a report may be there, lets take() act on it. Each
// report of progress (kMore: a whole step, so at most one per step of the
// payload's capacity) buys a fresh `budget`; other reports spin on what is
// left, so a peer that keeps changing its report gets no more spinning.
// Never spins past `cap`; give_up() is checked with the clock, and after every
// report. `took` is that of the last stretch. Not caught: sleep (after
// kFailed: return the error take() recorded).
template <class Answered, class Reported, class Take, class GiveUp>
SpinOutcome SpinWithReports(std::chrono::nanoseconds budget, std::chrono::steady_clock::time_point cap,
                            Answered answered, Reported reported, Take take, GiveUp give_up) {
  using Clock = std::chrono::steady_clock;
  std::chrono::nanoseconds left = budget;
  Clock::time_point spin_end{};
  bool is_answer = false;
  for (;;) {
    const SpinOutcome spun = SpinUntil(
        left, cap, [&] { return answered() ? (is_answer = true) : reported(); }, give_up);
    if (!spun.caught || is_answer) return spun;
    const Report report = take();
    if (report == Report::kFailed) return {false, spun.took};
    // The clock is read here: a report ends SpinUntil before its own first
    // read, and `cap` and give_up() must still end the wait.
    const Clock::time_point now = Clock::now();
    if (report == Report::kMore) {
      spin_end = now + budget;
    } else if (spin_end == Clock::time_point{}) {
      spin_end = now - spun.took + budget;  // what is left of the first stretch
    }
    left = now >= cap || give_up() ? std::chrono::nanoseconds(0) : spin_end - now;
  }
}

}  // namespace sv::ipc
