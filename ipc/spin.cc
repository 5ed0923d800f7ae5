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

}  // namespace sv::ipc
