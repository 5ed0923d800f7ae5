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
  // Spinning must win clearly (by a fifth): when both take about as long, the
  // answer came after the budget anyway and the spin only burnt a core.
  const bool prefer_spin =
      with_spin_ns_ < 0 || without_spin_ns_ < 0 || with_spin_ns_ * 5 < without_spin_ns_ * 4;
  const bool explore = ++waits_ % kExploreEvery == 0;
  spun_ = explore ? !prefer_spin : prefer_spin;
  return spun_ ? budget_ : std::chrono::nanoseconds(0);
}

void SpinPolicy::Record(std::chrono::nanoseconds waited) {
  std::int64_t ns = waited.count();
  if (ns < 0) ns = 0;
  if (ns > 1'000'000'000) ns = 1'000'000'000;  // keeps the sums far from overflow
  std::int64_t& average = spun_ ? with_spin_ns_ : without_spin_ns_;
  average = average < 0 ? ns : average + (ns - average) / 8;
}

}  // namespace sv::ipc
