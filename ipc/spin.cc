#include "ipc/spin.h"

#include <sched.h>

namespace sv::ipc {

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

SpinPolicy::SpinPolicy(SpinOptions options) : budget_(options.budget), adaptive_(options.adaptive) {
  if (budget_.count() < 0) budget_ = std::chrono::nanoseconds(0);
  // One usable CPU: the other side cannot run while we spin.
  if (adaptive_ && UsableCpus() < 2) budget_ = std::chrono::nanoseconds(0);
}

std::chrono::nanoseconds SpinPolicy::Budget() {
  if (!adaptive_ || budget_.count() == 0) {
    spun_ = budget_.count() != 0;
    return budget_;
  }
  spun_ = interval_ == 1 || ++skipped_ >= interval_;
  if (!spun_) return std::chrono::nanoseconds(0);
  skipped_ = 0;
  return budget_;
}

void SpinPolicy::Record(std::chrono::nanoseconds waited, bool while_spinning) {
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

}  // namespace sv::ipc
