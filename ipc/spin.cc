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
  if (!adaptive_ || budget_.count() == 0) return budget_;
  if (average_ns_ <= budget_.count() || ++since_spin_ >= kProbeEvery) {
    since_spin_ = 0;
    return budget_;
  }
  return std::chrono::nanoseconds(0);
}

void SpinPolicy::Record(std::chrono::nanoseconds waited, bool while_spinning) {
  std::int64_t ns = waited.count();
  if (ns < 0) ns = 0;
  if (ns > 1'000'000'000) ns = 1'000'000'000;  // keeps the sum far from overflow
  // A wait that slept includes the wake-up, which on some machines alone
  // exceeds the budget; one caught by a spin is direct evidence.
  if (while_spinning) {
    average_ns_ = ns < average_ns_ ? ns : average_ns_ + (ns - average_ns_) / 8;
    return;
  }
  average_ns_ += (ns - average_ns_) / 8;
}

}  // namespace sv::ipc
