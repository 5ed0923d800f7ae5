// Starting sv-worker processes and collecting their ends: posix_spawn with
// the channel at its documented fds, a pidfd for every signal and the reap.
// Runs in the trusted process.
#pragma once

#include <sys/types.h>

#include <expected>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "worker/options.h"

namespace sv::supervisor {

// What a worker needs at start. The fds stay owned by the caller.
struct SpawnRequest {
  std::string worker_path;           // the sv-worker executable
  worker::Options options;           // options.parent 0 is filled in with getpid()
  int request_fd = -1;               // becomes fd 3
  int response_fd = -1;              // becomes fd 4 (-1: none, for a zygote)
  int notify_fd = -1;                // becomes fd 5 (worker::kNotifyFd) when options.notify
  int stdin_fd = -1;                 // -1: /dev/null
  int stdout_fd = -1;                // -1: /dev/null
  int stderr_fd = -1;                // -1: /dev/null
  bool reset_signals = true;         // false: the worker inherits our mask and SIG_IGNs
  int cgroup_fd = -1;                // a cgroup v2 directory to start the worker in (clone3
                                     // CLONE_INTO_CGROUP: no migration, no window before it)
  std::vector<std::string> env;      // KEY=VALUE, the whole environment
};

// A started worker: our unreaped child, so its pid stays its own until Reap().
struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd pidfd;
};

// How a process ended. A worker dying is an outcome, not an error.
struct ExitInfo {
  bool signaled = false;
  int code = 0;  // exit status, or the signal number when signaled
  bool core_dumped = false;
  // "exited with 100", "killed by signal 9 (Killed)".
  std::string ToString() const;
  friend bool operator==(const ExitInfo&, const ExitInfo&) = default;
};

// Starts sv-worker in its own process group with a clean signal mask
// (posix_spawn, or clone3 + execve when a cgroup is given). The
// worker dies with the calling *thread* (PR_SET_PDEATHSIG follows the thread
// that forked it): call from a thread that outlives the worker. Errors:
// kSystem (posix_spawn, pidfd_open).
[[nodiscard]] std::expected<SpawnedProcess, Error> Spawn(const SpawnRequest& request);

// Whether Spawn() can start a worker inside a cgroup (cgroup_fd) on this build.
bool CanSpawnIntoCgroup();

// Sends `sig` through the pidfd (never to a recycled pid).
[[nodiscard]] Status SendSignal(int pidfd, int sig);

// Reaps the exited process behind `pidfd` (waitid P_PIDFD). With `block`
// false, kInUse when it still runs. EINTR is retried.
[[nodiscard]] std::expected<ExitInfo, Error> Reap(int pidfd, bool block);

// The environment this process runs with, as KEY=VALUE strings, with
// `overrides` replacing or adding keys.
std::vector<std::string> EnvironmentWith(const std::vector<std::pair<std::string, std::string>>& overrides);

}  // namespace sv::supervisor
