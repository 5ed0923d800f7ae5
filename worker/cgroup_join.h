// How sv-worker joins the cgroup the supervisor made for it. Runs in sv-worker,
// first thing in main; kept apart from supervisor/ so the worker stays lean.
#pragma once

#include <string>

#include "base/error.h"

namespace sv::worker {

// Moves the calling process into the cgroup v2 directory `path` by writing
// "0\n" to <path>/cgroup.procs; children forked afterwards start there too.
// Not async-signal-safe (it allocates): call it from main, not between fork
// and exec. Errors are kSystem with the errno of open or write (ENOENT: no
// such cgroup; EACCES/EPERM: not allowed to move).
[[nodiscard]] Status JoinCgroup(const std::string& path);

}  // namespace sv::worker
