// The supervisor an application embeds: pools of sv-worker processes declared
// in a config::Config, called from any thread, restarted with backoff, recycled,
// resized and stopped on request. One event loop thread owns every process.
// Runs in the trusted process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/deadline.h"
#include "base/error.h"
#include "config/schema.h"
#include "supervisor/lifecycle.h"
#include "supervisor/spawn.h"

namespace sv::supervisor {

enum class PoolState : std::uint8_t {
  kRunning,   // serving (some workers may still be starting or backing off)
  kStopping,  // no new calls; waiting for workers to exit
  kStopped,   // no workers; Start() brings it back
  kFatal,     // the restart policy gave up; Start() brings it back
};
std::string_view PoolStateName(PoolState state);  // "RUNNING", ...

struct WorkerStatus {
  std::uint32_t slot = 0;
  WorkerState state = WorkerState::kStarting;
  pid_t pid = 0;                           // 0 when no process (backoff)
  std::chrono::nanoseconds uptime{0};      // since the worker became ready
  std::uint64_t calls = 0;                 // by this process
  std::uint64_t generation = 0;            // processes this slot has had
  std::uint64_t rss_bytes = 0;             // 0 when unknown
  std::optional<ExitInfo> last_exit;       // of the slot's previous process
};

struct PoolStatus {
  std::string name;
  PoolState state = PoolState::kStopped;
  std::string last_error;                  // why the last worker failed, or why the pool is FATAL
  std::string kill_scope;                  // "cgroup" or "process group": what a kill reaches
  std::string spawner;                     // "zygote" (workers forked from a loaded plugin) or "exec ..."
  pid_t zygote_pid = 0;                    // 0: none
  std::uint32_t desired_workers = 0;
  std::uint32_t waiting_callers = 0;
  std::uint64_t calls = 0;                 // answered calls, successful or not
  std::map<std::string, std::uint64_t> failures;  // by ErrorCode name
  std::uint64_t restarts = 0;              // replacement workers started after a failure
  std::uint64_t kills = 0;                 // SIGKILLs sent
  std::vector<WorkerStatus> workers;
};

// What Stop() did to each worker.
struct StopReport {
  enum class Outcome : std::uint8_t { kGraceful, kKilled, kAlreadyDead };
  struct Entry {
    std::uint32_t slot;
    pid_t pid;  // 0 when there was no process
    Outcome outcome;
  };
  std::string pool;
  std::vector<Entry> workers;
};
std::string_view StopOutcomeName(StopReport::Outcome outcome);  // "stopped", "killed", "already dead"

struct SupervisorOptions {
  std::string worker_path;     // sv-worker; default: next to this executable, then $SV_WORKER
  bool use_cgroups = true;     // kill through a per-worker cgroup v2 when the machine allows it
  std::string tmp_root;        // where private TMPDIRs go; default: $TMPDIR or /tmp
  // Fork workers from a per-pool zygote that has loaded the plugin (a fork
  // instead of an exec, the loader and dlopen); falls back to exec when the
  // zygote cannot start or dies.
  bool use_zygote = true;
  // Create() loads each pool's plugin once (supervisor/probe.h) and refuses a
  // config whose plugin cannot be loaded (kBadConfig, at the plugin's line).
  bool validate_plugins = true;
};

class Supervisor;
struct PoolImpl;

// A handle on one pool; valid while its Supervisor lives, even after the pool
// is removed by Apply() (calls then fail with kPoolStopped... as kClosed).
class Pool {
 public:
  // Runs method(input) in a free worker, waiting for one (at most max_queue
  // callers wait) until `deadline` (default: now + call_timeout). Thread-safe.
  // Errors: kDeadlineExceeded (the worker is killed and replaced),
  // kWorkerCrashed (message names the signal or exit code), kPoolStopped,
  // kOverloaded, kPayloadTooLarge, kPluginError, kProtocolViolation,
  // kResourceLimit, kStartFailed (the pool is FATAL).
  [[nodiscard]] std::expected<std::string, Error> Call(std::string_view method, std::string_view input,
                                                       std::optional<Deadline> deadline = std::nullopt);
  const std::string& name() const { return name_; }

 private:
  friend class Supervisor;
  Pool(Supervisor* owner, std::string name, PoolImpl* pool)
      : owner_(owner), name_(std::move(name)), pool_(pool) {}
  Supervisor* owner_;
  std::string name_;
  PoolImpl* pool_;  // never freed while the Supervisor lives (removed pools are kept)
};

class Supervisor {
 public:
  // Checks every plugin loads, then starts the event loop and every autostart
  // pool (without waiting for readiness: see WaitReady). Errors: kBadConfig
  // (a plugin cannot be loaded), kSystem, kInvalidArgument (no sv-worker).
  [[nodiscard]] static std::expected<std::unique_ptr<Supervisor>, Error> Create(const config::Config& config,
                                                                                 SupervisorOptions options = {});
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  // Stops every pool (each gets its stop_timeout, then SIGKILL) and the loop.
  ~Supervisor();

  // nullptr for an unknown pool.
  Pool* pool(std::string_view name);

  // Until every desired worker of `pool` is READY. kDeadlineExceeded,
  // kStartFailed when the pool turned FATAL, kInvalidArgument for an unknown pool.
  [[nodiscard]] Status WaitReady(std::string_view pool, Deadline deadline);
  // Starts a stopped or FATAL pool (resetting its restart history).
  [[nodiscard]] Status Start(std::string_view pool);
  // No new calls (kPoolStopped); idle workers are asked to exit, calls in
  // flight get until stop_timeout, then everything left is killed. Blocks
  // until every worker is gone or `deadline`.
  [[nodiscard]] std::expected<StopReport, Error> Stop(std::string_view pool, Deadline deadline);
  // Replaces the workers one at a time, each after its replacement is READY.
  [[nodiscard]] Status Restart(std::string_view pool);
  // Changes the number of workers in place.
  [[nodiscard]] Status Resize(std::string_view pool, std::uint32_t workers);
  // Applies a new config: adds, removes (stopping) and changes pools, resizing
  // when only the size changed and restarting workers otherwise.
  [[nodiscard]] Status Apply(const config::Config& config);

  std::vector<PoolStatus> Snapshot() const;

  struct Impl;

 private:
  friend class Pool;
  explicit Supervisor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sv::supervisor
