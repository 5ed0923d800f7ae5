// What sv-worker does to its own process before it loads the plugin, while
// all code in it is still trusted. Runs in the worker process.
#pragma once

#include "base/error.h"
#include "worker/options.h"

namespace sv::worker {

// In order: PR_SET_PDEATHSIG(SIGKILL), then exits early (kInUse) if the parent
// is no longer options.parent; closes every fd above the channel's; moves into
// its own process group; applies the rlimits; creates the private TMPDIR
// (mode 0700, must not exist yet) and exports it. Errors name the step.
[[nodiscard]] Status PrepareProcess(const Options& options);

}  // namespace sv::worker
