// What sv-worker does to its own process before it loads the plugin, while
// all code in it is still trusted. Runs in the worker process.
#pragma once

#include "base/error.h"
#include "worker/options.h"

namespace sv::worker {

// First, before anything else: PR_SET_PDEATHSIG(SIGKILL), then fails (kInUse)
// if the parent is no longer options.parent; every signal unblocked and back
// to its default action (a spawner's mask or SIG_IGN must not leak into the
// worker); every fd above the channel's closed; its own process group.
[[nodiscard]] Status Isolate(const Options& options);

// In a worker a zygote forked (worker/zygote.h): the parent-death signal
// (fork cleared it) and the parent check, and its own process group. The
// descriptors and signal handlers stay as the zygote, and the plugin's loading
// in it, left them, as they would in an exec'd worker.
[[nodiscard]] Status IsolateForked(const Options& options);

// Last, just before the plugin loads: the rlimits, and the private TMPDIR
// (mode 0700, must not exist yet) exported to the plugin. kInvalidArgument
// when a limit cannot be applied (restarting will not help).
[[nodiscard]] Status Confine(const Options& options);

}  // namespace sv::worker
