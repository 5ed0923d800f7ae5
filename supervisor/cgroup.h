// Per-worker cgroup v2 isolation, run by the supervisor: one cgroup per worker
// below the supervisor's own subtree, so that a kill reaches every process a
// plugin started, including those that left the process group with setsid().
// Workers are started inside their cgroup (clone3 CLONE_INTO_CGROUP, supervisor/spawn.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "base/error.h"

namespace sv::supervisor {

// What a kill of a worker reaches, as status reports it.
enum class KillScope { kCgroup, kProcessGroup };

// "cgroup" or "process group".
std::string_view KillScopeName(KillScope scope);

// The supervisor's cgroup subtree, <cgroup2 mount><our cgroup>/<hint>-<pid>,
// with one child cgroup per worker. The subtree is limited to that one level
// (cgroup.max.depth), so a worker cannot create cgroups of its own.
// Owns every cgroup it created: the destructor kills what is left in them and
// removes them. Not thread-safe: one owner, the supervisor's event loop.
class CgroupTree {
 public:
  // Finds the cgroup2 mount (/proc/self/mountinfo) and our cgroup in it
  // (/proc/self/cgroup), and creates the subtree "<name_hint>-<pid>" ("sv" when
  // the hint is empty). A stale, empty directory of that name (an earlier
  // process with the same pid) is replaced. Errors:
  //   kUnsupported  cgroups cannot be used here; the message says what was
  //                 missing or refused ("no cgroup2 mount", "mkdir <path>"
  //                 with errno EACCES, "no cgroup.kill (Linux < 5.14)"). The
  //                 caller falls back to process groups and reports why.
  //   kInvalidArgument  the hint is not a single path component.
  [[nodiscard]] static std::expected<std::unique_ptr<CgroupTree>, Error> Open(
      std::string_view name_hint);

  // Kills whatever is left in the subtree (cgroup.kill), waits until it is
  // empty but at most 1 s, and removes every cgroup this tree created.
  // Processes the supervisor has not reaped stay zombies: reap first.
  ~CgroupTree();

  CgroupTree(const CgroupTree&) = delete;
  CgroupTree& operator=(const CgroupTree&) = delete;

  // Creates the cgroup of one worker, "<root>/<pool>.<slot>.<generation>", and
  // returns its path. kInvalidArgument when `pool` is empty or contains '/' or
  // a control character; kSystem with EEXIST when that worker's cgroup exists.
  [[nodiscard]] std::expected<std::string, Error> CreateWorker(std::string_view pool,
                                                               std::uint32_t slot,
                                                               std::uint64_t generation);

  // Writes "1" to <path>/cgroup.kill: the kernel sends SIGKILL to every
  // process in the cgroup, including ones forked while the kill runs. Returns
  // before they are dead; reap the worker, then wait for ProcessCount() == 0
  // or simply Remove(). kInvalidArgument when `path` is not a cgroup this tree
  // created.
  [[nodiscard]] Status Kill(const std::string& path);

  // Removes the cgroup at `path` (rmdir). kInUse (errno EBUSY) while processes
  // remain in it: the caller retries after reaping. kInvalidArgument when
  // `path` is not a cgroup this tree created. Never blocks.
  [[nodiscard]] Status Remove(const std::string& path);

  // The number of processes in the cgroup at `path` (the lines of
  // cgroup.procs); zombies are not counted.
  [[nodiscard]] std::expected<std::size_t, Error> ProcessCount(const std::string& path) const;

  // The subtree's directory, e.g. "/sys/fs/cgroup/unified/sv-123".
  const std::string& root() const { return root_; }

 private:
  explicit CgroupTree(std::string root) : root_(std::move(root)) {}
  [[nodiscard]] Status CheckOurs(const std::string& path) const;

  std::string root_;
  std::set<std::string> workers_;  // worker cgroups created and not yet removed
};

}  // namespace sv::supervisor
