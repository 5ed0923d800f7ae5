// Watching another process through a pidfd rather than its pid: once the
// process is gone its pid may belong to another test's process (pid_max can
// be 32768 and tests run in parallel), while a pidfd keeps naming the process
// it was opened for. Open it while the process is known to run.
#pragma once

#include <poll.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/deadline.h"
#include "base/unique_fd.h"

namespace sv::testing {

// pidfd_open(2): invalid when it failed (no such process).
inline UniqueFd PidfdOpen(pid_t pid) { return UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0))); }

// Waits until the process behind `pidfd` has exited (a zombie counts), or
// `deadline`: false then, and for an invalid pidfd. An expired deadline
// asks whether it has exited already.
inline bool Exited(int pidfd, Deadline deadline) {
  if (pidfd < 0) return false;
  pollfd p{pidfd, POLLIN, 0};
  for (;;) {
    const int ready = poll(&p, 1, deadline.RemainingMillis());
    if (ready > 0) return (p.revents & POLLIN) != 0;
    if (ready < 0 && errno != EINTR) return false;
    if (deadline.Expired()) return false;
  }
}

// Waits until every process behind `pidfds` has exited, or `deadline`.
inline bool AllExited(const std::vector<UniqueFd>& pidfds, Deadline deadline) {
  for (const auto& fd : pidfds) {
    if (!Exited(fd.get(), deadline)) return false;
  }
  return true;
}

}  // namespace sv::testing
