// The supervisor an application embeds: pools of sv-worker processes declared
// in a config::Config, called from any thread, restarted with backoff, recycled,
// resized and stopped on request. One event loop thread owns every process.
// Runs in the trusted process.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <limits>
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
#include "supervisor/log_buffer.h"
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
  WorkerState state = WorkerState::kStarting;  // kStopped: held down by StopWorker()
  pid_t pid = 0;                           // 0 when no process (backoff, stopped)
  std::chrono::nanoseconds uptime{0};      // since the worker became ready
  std::uint64_t calls = 0;                 // by this process
  std::uint64_t generation = 0;            // processes this slot has had
  std::uint64_t rss_bytes = 0;             // 0 when unknown
  std::optional<ExitInfo> last_exit;       // of the slot's previous process
};

// Upper bounds, in seconds, of the call duration histogram's buckets (the
// Prometheus `le` values); the last is +Inf.
inline constexpr std::array<double, 17> kCallDurationBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0, std::numeric_limits<double>::infinity()};

// How long answered calls took, as the caller saw it (from Pool::Call until the
// worker's answer or failure, waiting for a free worker included). Calls that
// got no worker (kOverloaded, kPoolStopped, a deadline passed in the queue) are
// not in it.
struct CallDurations {
  // counts[i]: calls that took more than kCallDurationBounds[i-1] and at most
  // kCallDurationBounds[i]. Not cumulative: Prometheus' `le` buckets are the
  // running sums.
  std::array<std::uint64_t, kCallDurationBounds.size()> counts{};
  double sum_seconds = 0;
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
  CallDurations durations;
  LogStats stdout_log, stderr_log;         // the workers' output (ReadLog)
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

// A worker Signal() reached.
struct SignalledWorker {
  std::uint32_t slot = 0;
  pid_t pid = 0;
  friend bool operator==(const SignalledWorker&, const SignalledWorker&) = default;
};

struct SnapshotOptions {
  // Read each worker's resident set size from /proc (one open/read/close per
  // worker, outside the supervisor's lock); false leaves rss_bytes 0 except
  // where max_rss recycling already read it.
  bool rss = true;
};

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
  // Each pool's workers (and zygote) share one stdout and one stderr pipe; a
  // log thread drains them into a LogBuffer each (ReadLog). Per stream by
  // default: the newest 1 MiB (a line costs its text + 48 bytes), at most
  // 16384 lines, lines over 8 KiB split. Lines from different workers do not
  // mix within a line when each is written by one write(2) of at most 4 KiB
  // (PIPE_BUF); a longer line may interleave with another worker's.
  LogBufferOptions log_buffer;
  // Called on the log thread with every line of every pool's output, at most
  // output_sink_lines_per_second per pool and stream; past that, lines are
  // not passed on and, once the second is over, the sink gets one
  // "[N lines dropped]" line instead (ReadLog still has them). Must not
  // block for long: a slow sink holds up the draining of every pool, and so
  // the workers writing. Default: none.
  std::function<void(std::string_view pool, LogStream stream, std::string_view line)> output_sink;
  std::uint32_t output_sink_lines_per_second = 1000;
};

// Which lines ReadLog() returns.
struct LogQuery {
  std::optional<std::uint64_t> after;  // lines with seq > after (following); without: the newest `tail`
  std::size_t tail = 10;
  std::size_t limit = 1000;            // with `after`: at most this many, oldest first
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

  // Until every desired worker of `pool` is READY (a slot held STOPPED by
  // StopWorker() is not waited for). kDeadlineExceeded, kStartFailed when the
  // pool turned FATAL, kInvalidArgument for an unknown pool.
  [[nodiscard]] Status WaitReady(std::string_view pool, Deadline deadline);
  // Starts a stopped or FATAL pool (resetting its restart history).
  [[nodiscard]] Status Start(std::string_view pool);
  // No new calls (kPoolStopped); idle workers are asked to exit, calls in
  // flight get until stop_timeout, then everything left is killed. Blocks
  // until every worker is gone or `deadline`.
  [[nodiscard]] std::expected<StopReport, Error> Stop(std::string_view pool, Deadline deadline);
  // Replaces the workers one at a time, each after its replacement is READY
  // (held slots are left alone); starts a stopped or FATAL pool. Without
  // `wait` it returns once the restart has begun; with it, it blocks until
  // every slot has been replaced and the pool is READY as WaitReady() means
  // it: kDeadlineExceeded (the restart goes on), kStartFailed (FATAL),
  // kPoolStopped (stopped meanwhile).
  [[nodiscard]] Status Restart(std::string_view pool, std::optional<Deadline> wait = std::nullopt);
  // Changes the number of workers in place. Slots are kept from the lowest
  // index up, a held (STOPPED) slot counting as one: shrinking past it
  // removes it and its hold; growing adds running slots and leaves it held.
  [[nodiscard]] Status Resize(std::string_view pool, std::uint32_t workers);

  // --- One slot of a pool (`supervisorctl stop|start|restart|signal pool:N`).
  // Slots are PoolStatus::workers[].slot. Each of these fails with
  // kInvalidArgument for an unknown pool or slot (the message lists the
  // pool's slots) and kPoolStopped when the pool is not RUNNING.

  // Stops the slot's worker as Stop() stops a pool's (a stop request, a call
  // in flight gets stop_timeout, then SIGKILL) and holds the slot down: it
  // shows STOPPED, nothing restarts it (neither the restart policy nor
  // Restart()), WaitReady() does not wait for it, and the pool's other
  // workers serve, until StartWorker() or RestartWorker(). Blocks until the
  // process is gone: the report's one entry; kDeadlineExceeded when
  // `deadline` passes first (the hold stays and the stop goes on). A slot
  // already without a process is reported "already dead", pid 0.
  [[nodiscard]] std::expected<StopReport, Error> StopWorker(std::string_view pool, std::uint32_t slot,
                                                            Deadline deadline);
  // Lifts the hold of StopWorker() and starts a worker in the slot; nothing
  // to do for a slot that is not held. With `wait`, blocks until the slot's
  // worker is READY: kDeadlineExceeded, kStartFailed (the pool turned FATAL),
  // kStopped (the slot was stopped again meanwhile).
  [[nodiscard]] Status StartWorker(std::string_view pool, std::uint32_t slot,
                                   std::optional<Deadline> wait = std::nullopt);
  // Replaces the slot's worker: a stop request (a call in flight finishes
  // first, within stop_timeout), then a new worker at once, outside the
  // restart policy. A held slot is started; one backing off starts now. With
  // `wait`, blocks as StartWorker() does until the replacement is READY.
  [[nodiscard]] Status RestartWorker(std::string_view pool, std::uint32_t slot,
                                     std::optional<Deadline> wait = std::nullopt);
  // Sends `signo` (1..SIGRTMAX) through each pidfd to the worker process of
  // `slot`, or of every slot: not to the zygote nor to the workers' own
  // children. Slots without a live process are skipped. Returns who got it.
  // A signal that ends a worker is a crash to the restart policy.
  [[nodiscard]] std::expected<std::vector<SignalledWorker>, Error> Signal(std::string_view pool,
                                                                          std::optional<std::uint32_t> slot,
                                                                          int signo);
  // Applies a new config: adds, removes (stopping) and changes pools, resizing
  // when only the size changed and restarting workers otherwise.
  [[nodiscard]] Status Apply(const config::Config& config);

  // Lines a pool's workers wrote to `stream` (see LogQuery, LogRead). With
  // `wait` and `query.after`, blocks until a line newer than `after` comes,
  // `wait` passes (no error: an empty read) or the Supervisor is being
  // destroyed. kInvalidArgument for an unknown pool.
  [[nodiscard]] std::expected<LogRead, Error> ReadLog(std::string_view pool, LogStream stream, const LogQuery& query,
                                                      std::optional<Deadline> wait = std::nullopt);

  // Every pool's status, in name order. Does not block on the event loop.
  std::vector<PoolStatus> Snapshot(SnapshotOptions options = {}) const;

  struct Impl;

 private:
  friend class Pool;
  explicit Supervisor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sv::supervisor
