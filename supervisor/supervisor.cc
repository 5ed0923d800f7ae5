#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <utility>

#include "base/io.h"
#include "ipc/channel.h"
#include "stop/calls.h"
#include "config/diff.h"
#include "stop/stop_event_fd.h"
#include "supervisor/cgroup.h"
#include "supervisor/internal/log_pump.h"
#include "supervisor/probe.h"
#include "supervisor/restart_policy.h"
#include "worker/zygote.h"
#include "worker/tmpdir.h"

namespace sv::supervisor {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::uint64_t kNoToken = 0;

// epoll data: which descriptor of which worker (or the loop's own) is ready.
enum class Source : std::uint8_t { kCommand = 1, kTimer, kStop, kPidfd, kNotify };

std::uint64_t Key(Source source, std::uint64_t token) { return (token << 8) | static_cast<std::uint64_t>(source); }


// The resident set size from /proc/<pid>/statm; 0 when the process is gone.
// Three system calls and no allocation: Snapshot() does this per worker.
std::uint64_t ReadRss(pid_t pid) {
  static const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
  UniqueFd statm(open(path, O_RDONLY | O_CLOEXEC));
  if (!statm) return 0;
  char text[128];
  auto n = ReadSome(statm.get(), std::as_writable_bytes(std::span(text, sizeof text - 1)));
  if (!n || *n == 0) return 0;
  text[*n] = '\0';
  char* end = nullptr;
  (void)std::strtoull(text, &end, 10);  // total program size
  return std::strtoull(end, nullptr, 10) * page;
}

// Deadline::After(timeout) as of `now`.
Deadline DeadlineFrom(Clock::time_point now, std::chrono::nanoseconds timeout) {
  if (timeout >= Clock::time_point::max() - now) return Deadline::Infinite();
  return Deadline::At(now + timeout);
}

// The bucket of kCallDurationBounds that `took` falls in.
std::size_t DurationBucket(Clock::duration took) {
  const double seconds = std::chrono::duration<double>(took).count();
  std::size_t i = 0;
  while (seconds > kCallDurationBounds[i]) ++i;  // the last bound is +Inf
  return i;
}


RestartSettings RestartFor(const config::RestartPolicy& r) {
  return {r.backoff_initial, r.backoff_max, r.healthy_after, r.intensity, r.period};
}

}  // namespace

// One worker process: lives as long as anyone (its slot, a caller) holds it.
struct Worker {
  std::uint32_t slot = 0;
  std::uint64_t generation = 0;
  std::uint64_t token = kNoToken;  // epoll and timer identity
  std::unique_ptr<ipc::Channel> channel;
  SpawnedProcess process;
  UniqueFd notify;
  std::string tmpdir;
  std::string cgroup;
  Clock::time_point spawned_at{}, ready_at{};
  std::uint64_t calls = 0;
  std::uint64_t recycle_after = 0;  // 0: never
  std::uint64_t rss = 0;
  bool killed = false;
  bool reaped = false;
  bool replace = false;   // exit means "start the next one now" (recycle, restart)
  bool was_ready = false;
  std::string failure;    // what went wrong, for last_error
  // How it ended; written by the loop before MarkPeerDead(), which a caller
  // waiting on the channel observes with acquire ordering.
  std::optional<ExitInfo> exit;
};

// A place for one worker in a pool; keeps its state across processes.
struct Slot {
  std::uint32_t index = 0;
  WorkerState state = WorkerState::kStarting;
  std::shared_ptr<Worker> worker;  // null in kBackoff/kExited/kFatal
  std::uint64_t generation = 0;
  std::uint64_t timer_seq = 0;     // timers armed earlier than the last are stale
  bool remove = false;             // exit means "slot done" (shrink, stop)
  bool held = false;               // stopped by an operator: parks on exit, starts only on request
  std::optional<ExitInfo> last_exit;
  std::optional<StopReport::Outcome> stop_outcome;
  pid_t last_pid = 0;
};

struct PoolImpl {
  config::PoolConfig config;
  PoolState state = PoolState::kStopped;
  std::unique_ptr<Pool> handle;
  std::vector<std::unique_ptr<Slot>> slots;
  std::deque<std::shared_ptr<Worker>> idle;
  std::condition_variable freed;  // with Impl::mu
  std::uint32_t waiting = 0;
  std::uint32_t busy = 0;  // calls in flight; at most config.workers (the rest are warm spares)
  RestartPolicy restart{RestartSettings{}};
  std::string last_error;
  std::uint64_t calls = 0, restarts = 0, kills = 0;
  std::map<std::string, std::uint64_t> failures;
  CallDurations durations;
  std::vector<std::uint32_t> rolling;  // slots still to restart, one at a time
  std::optional<std::uint32_t> rolling_now;
  StopReport stop_report;           // filled while stopping
  // The pool's zygote: workers are forked from it while it lives.
  struct Zygote {
    SpawnedProcess process;
    UniqueFd socket;
    std::string cgroup;
  };
  std::optional<Zygote> zygote;
  std::uint64_t zygote_generation = 0;
  std::string spawner = "exec";
  // The workers' stdout and stderr; null when the pipe could not be made
  // (the output then goes to /dev/null and our stderr). Owned by the LogPump.
  OutputStream* output[2] = {nullptr, nullptr};
  bool removed = false;  // by Apply(): stopped, invisible to callers and operators
  std::condition_variable changed;  // state or readiness changed (with Impl::mu)
  std::mt19937_64 rng{std::random_device{}()};
};

enum class TimerKind : std::uint8_t { kStart, kStop, kBackoff, kCgroupSweep };
struct TimerEntry {
  TimerKind kind;
  std::string pool;
  std::uint32_t slot;
  std::uint64_t seq;
};

struct Supervisor::Impl {
  SupervisorOptions options;
  std::unique_ptr<CgroupTree> cgroups;
  std::unique_ptr<LogPump> logs;
  std::string kill_scope;
  std::string tmp_root;

  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<PoolImpl>, std::less<>> pools;
  std::map<std::uint64_t, std::shared_ptr<Worker>> by_token;
  std::uint64_t next_token = 1;
  std::multimap<Clock::time_point, TimerEntry> timers;
  // Timer identities, unique across slots and their successors: a timer of a
  // removed slot can never fire for a new slot at the same index.
  std::uint64_t timer_counter = 0;
  std::vector<std::string> cgroups_to_remove;
  std::deque<std::function<void()>> commands;

  UniqueFd epoll, command_fd, timer_fd;
  std::unique_ptr<stop::StopEventFd> stop_fd;
  std::stop_source stop_source;
  std::jthread loop;
  bool loop_failed = false;
  // The loop's hold on `mu` while it handles events; SpawnInto() lets go of
  // it while a child execs, so callers finishing a call never wait for that.
  std::unique_lock<std::mutex>* loop_lock = nullptr;

  // --- set-up (Create) ---
  Status Init(const config::Config& config);
  // The pool's stdout and stderr pipes, drained by `logs`.
  Status OpenOutput(PoolImpl& pool, const std::string& name);
  // --- the loop thread ---
  void Run();
  void Dispatch(std::uint64_t key);
  void RunCommands();
  void RunTimers();
  void ArmTimerFd();
  void ArmTimer(PoolImpl& pool, Slot& slot, TimerKind kind, std::chrono::nanoseconds after);
  void OnReadyNotice(const std::shared_ptr<Worker>& worker);
  void OnExit(const std::shared_ptr<Worker>& worker);
  WorkerEvent ClassifyExit(PoolImpl& pool, Slot& slot, Worker& worker, const ExitInfo& exit);
  void SweepCgroups();
  // Runs `fn` without `mu` when called by the loop (which holds it); for
  // system calls that may block on the kernel. `fn` touches no shared state.
  template <class Fn>
  void Unlocked(Fn fn) {
    if (loop_lock != nullptr) loop_lock->unlock();
    fn();
    if (loop_lock != nullptr) loop_lock->lock();
  }
  // --- shared (mu held) ---
  void Apply(PoolImpl& pool, Slot& slot, WorkerEvent event);
  void Perform(PoolImpl& pool, Slot& slot, WorkerAction action);
  void SpawnInto(PoolImpl& pool, Slot& slot);
  // The options every worker of `pool` starts with.
  SpawnRequest RequestFor(const PoolImpl& pool) const;
  void StartZygote(PoolImpl& pool);
  void StopZygote(PoolImpl& pool);
  // Kills and reaps what is in a worker's cgroup (a fork the zygote made but
  // could not report).
  void ReapStrays(int cgroup_fd);
  // A worker from the zygote; falls back to exec (and drops the zygote) when it fails.
  std::expected<SpawnedProcess, Error> Start(PoolImpl& pool, const SpawnRequest& request, std::uint32_t index);
  void Kill(PoolImpl& pool, Worker& worker);
  void Release(PoolImpl& pool, const std::shared_ptr<Worker>& worker);
  // kInUse while workers of an earlier run (a FATAL pool's) are still stopping.
  Status StartPool(PoolImpl& pool);
  void StopPool(PoolImpl& pool);
  void ResizePool(PoolImpl& pool, std::uint32_t workers);
  void FinishIfStopped(PoolImpl& pool);
  void NextRolling(PoolImpl& pool);
  // Replaces every worker, one at a time, each once the previous replacement is READY.
  void RollingRestart(PoolImpl& pool);
  // --- one slot (loop thread, mu held) ---
  // A live slot of a RUNNING pool, or kInvalidArgument naming the pool's
  // slots, or kPoolStopped.
  std::expected<Slot*, Error> SlotFor(PoolImpl& pool, std::uint32_t index);
  // StopWorker(): holds the slot down; the pid it stops, 0 when none.
  std::expected<pid_t, Error> HoldSlot(PoolImpl& pool, std::uint32_t index);
  // StartWorker() (`replace` false) and RestartWorker() (true): the
  // generation the slot's READY worker must reach.
  std::expected<std::uint64_t, Error> RunSlot(PoolImpl& pool, std::uint32_t index, bool replace);
  Status SignalSlots(PoolImpl& pool, std::optional<std::uint32_t> index, int signo,
                     std::vector<SignalledWorker>* sent);
  // --- waits of operator calls (mu held by `lock`) ---
  // Until `done` holds for the pool named `name` (kept even if removed),
  // which is RUNNING; kStartFailed when it turns FATAL, kPoolStopped when it
  // stops, kDeadlineExceeded with `why_late()` at `deadline`.
  Status WaitPool(std::unique_lock<std::mutex>& lock, std::string_view name, Deadline deadline,
                  const std::function<bool(PoolImpl&)>& done, const std::function<std::string(PoolImpl&)>& why_late);
  // A pool of the current config; FindAny also finds one Apply() removed.
  PoolImpl* Find(std::string_view name);
  PoolImpl* FindAny(std::string_view name);
  // Apply() for one pool of the new config: add, re-add, resize or restart.
  void ApplyPool(const std::string& name, const config::PoolConfig& wanted);
  Slot* SlotOf(PoolImpl& pool, const Worker& worker);
  // StartWorker() and RestartWorker(): RunSlot() on the loop, then the wait.
  Status RunAndWait(std::string_view name, std::uint32_t index, bool replace, std::optional<Deadline> wait);
  // Runs `fn` on the loop thread (mu held) and waits for it.
  Status Post(std::function<void()> fn);
  // Post() for one pool; kInvalidArgument when there is no such pool.
  Status PostToPool(std::string_view name, const std::function<void(PoolImpl&)>& fn);
  // --- callers ---
  std::expected<std::string, Error> Call(PoolImpl& pool, const std::string& pool_name, std::string_view method,
                                         std::string_view input, std::optional<Deadline> deadline);
  std::expected<std::shared_ptr<Worker>, Error> Acquire(PoolImpl& pool, std::unique_lock<std::mutex>& lock,
                                                        Deadline deadline);
  // Accounts for an answered call that took `took` and moves the worker on.
  void Finish(PoolImpl& pool, const std::shared_ptr<Worker>& worker, const std::expected<std::string, Error>& result,
              Clock::duration took);
  // Status with `mu` held; RSS only where a call already read it.
  std::vector<PoolStatus> SnapshotLocked() const;
  // The error a caller sees, naming the pool and the worker.
  static Error CallError(const std::string& pool_name, std::string_view method, const Worker& worker,
                         const Error& error);
};

// ---------------------------------------------------------------- set-up

std::string_view PoolStateName(PoolState state) {
  switch (state) {
    case PoolState::kRunning: return "RUNNING";
    case PoolState::kStopping: return "STOPPING";
    case PoolState::kStopped: return "STOPPED";
    case PoolState::kFatal: return "FATAL";
  }
  return "?";
}

std::string_view StopOutcomeName(StopReport::Outcome outcome) {
  switch (outcome) {
    case StopReport::Outcome::kGraceful: return "stopped";
    case StopReport::Outcome::kKilled: return "killed";
    case StopReport::Outcome::kAlreadyDead: return "already dead";
  }
  return "?";
}

std::expected<std::unique_ptr<Supervisor>, Error> Supervisor::Create(const config::Config& config,
                                                                     SupervisorOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (Status s = impl->Init(config); !s) return std::unexpected(s.error());
  return std::unique_ptr<Supervisor>(new Supervisor(std::move(impl)));
}

Supervisor::Supervisor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Status Supervisor::Impl::Init(const config::Config& config) {
  if (options.worker_path.empty()) options.worker_path = DefaultWorkerPath();
  if (access(options.worker_path.c_str(), X_OK) != 0) {
    return Fail(ErrorCode::kInvalidArgument, Error::FromErrno("sv-worker at " + options.worker_path, errno).ToString());
  }
  // A worker costs one descriptor (its pidfd) and two while it starts: lift
  // the soft limit to the hard one, as a server of many connections would.
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  // A missing plugin, or one that cannot be loaded, is a config error: found
  // here, at file:line:col, before anything starts.
  if (options.validate_plugins) {
    if (auto valid = config::Validate(config, PluginProbeFor(options.worker_path)); !valid) {
      return std::unexpected(valid.error().ToError());
    }
  }
  kill_scope = "process group";
  if (options.use_cgroups && !CanSpawnIntoCgroup()) {
    kill_scope = "process group (workers cannot be started inside a cgroup on this architecture)";
  } else if (options.use_cgroups) {
    if (auto tree = CgroupTree::Open("sv"); tree) {
      cgroups = std::move(*tree);
      kill_scope = "cgroup";
    } else {
      kill_scope = "process group (" + tree.error().message() + ")";
    }
  }
  const char* tmp = getenv("TMPDIR");
  std::string base = !options.tmp_root.empty() ? options.tmp_root : (tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
  tmp_root = base + "/sv-" + std::to_string(getpid()) + "-" + std::to_string(Clock::now().time_since_epoch().count());
  if (mkdir(tmp_root.c_str(), 0700) != 0) return FailErrno("mkdir " + tmp_root, errno);

  epoll = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  command_fd = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  timer_fd = UniqueFd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!epoll || !command_fd || !timer_fd) return FailErrno("epoll/eventfd/timerfd", errno);
  auto stop = stop::StopEventFd::Create(stop_source.get_token());
  if (!stop) return std::unexpected(stop.error());
  stop_fd = std::move(*stop);
  for (auto [fd, source] : {std::pair{command_fd.get(), Source::kCommand}, {timer_fd.get(), Source::kTimer},
                            {stop_fd->fd(), Source::kStop}}) {
    epoll_event ev{EPOLLIN, {.u64 = Key(source, 0)}};
    if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return FailErrno("epoll_ctl", errno);
  }
  auto pump = LogPump::Create(options.output_sink, options.output_sink_lines_per_second, options.log_buffer);
  if (!pump) return std::unexpected(pump.error());
  logs = std::move(*pump);
  for (const auto& [name, pool_config] : config.pools) {
    auto pool = std::make_unique<PoolImpl>();
    pool->config = pool_config;
    pool->restart = RestartPolicy(RestartFor(pool_config.restart), std::random_device{}());
    if (Status s = OpenOutput(*pool, name); !s) return s;
    pools.emplace(name, std::move(pool));
  }
  // Workers die with the thread that spawned them: only the loop spawns.
  loop = std::jthread([this] { Run(); });
  return Post([this] {
    for (auto& [name, pool] : pools) {
      if (pool->config.autostart) (void)StartPool(*pool);
    }
  });
}

Status Supervisor::Impl::OpenOutput(PoolImpl& pool, const std::string& name) {
  for (LogStream stream : {LogStream::kStdout, LogStream::kStderr}) {
    auto out = logs->Open(name, stream);
    if (!out) return std::unexpected(out.error());
    pool.output[static_cast<int>(stream)] = *out;
  }
  return {};
}

Supervisor::~Supervisor() {
  std::vector<std::pair<std::string, std::chrono::nanoseconds>> pools;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [name, pool] : impl_->pools) pools.emplace_back(name, pool->config.stop_timeout);
  }
  for (const auto& [name, grace] : pools) (void)Stop(name, Deadline::After(grace + 2s));
  impl_->stop_source.request_stop();
  if (impl_->loop.joinable()) impl_->loop.join();
  // Anything the stops missed (a deadline passed): kill and reap it here.
  for (auto& [token, worker] : impl_->by_token) {
    if (worker->reaped) continue;
    (void)SendSignal(worker->process.pidfd.get(), SIGKILL);
    if (impl_->cgroups && !worker->cgroup.empty()) (void)impl_->cgroups->Kill(worker->cgroup);
    else kill(-worker->process.pid, SIGKILL);  // unreaped: the group id is still its own
    (void)Reap(worker->process.pidfd.get(), true);
    if (!worker->tmpdir.empty()) (void)worker::RemoveTree(worker->tmpdir);
  }
  impl_->by_token.clear();
  for (auto& [name, pool] : impl_->pools) impl_->StopZygote(*pool);
  impl_->cgroups.reset();  // kills and removes what is left
  impl_->logs->Stop();     // every worker is gone: what they wrote last is in the pipes
  (void)worker::RemoveTree(impl_->tmp_root);
}

// ---------------------------------------------------------------- the loop

void Supervisor::Impl::Run() {
  std::stop_token token = stop_source.get_token();
  epoll_event events[64];
  while (!token.stop_requested()) {
    const int n = epoll_wait(epoll.get(), events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      loop_failed = true;
      return;
    }
    std::unique_lock lock(mu);
    loop_lock = &lock;
    for (int i = 0; i < n; ++i) Dispatch(events[i].data.u64);
    loop_lock = nullptr;
  }
}

void Supervisor::Impl::Dispatch(std::uint64_t key) {
  const auto source = static_cast<Source>(key & 0xff);
  const std::uint64_t token = key >> 8;
  switch (source) {
    case Source::kCommand: return RunCommands();
    case Source::kTimer: return RunTimers();
    case Source::kStop: return;
    case Source::kPidfd:
    case Source::kNotify: {
      auto it = by_token.find(token);
      if (it == by_token.end()) return;  // already handled in this batch
      std::shared_ptr<Worker> worker = it->second;
      if (source == Source::kNotify) return OnReadyNotice(worker);
      return OnExit(worker);
    }
  }
}

void Supervisor::Impl::RunCommands() {
  std::uint64_t count = 0;
  (void)!read(command_fd.get(), &count, sizeof count);
  while (!commands.empty()) {
    auto fn = std::move(commands.front());
    commands.pop_front();
    fn();
  }
}

Status Supervisor::Impl::Post(std::function<void()> fn) {
  auto done = std::make_shared<std::pair<bool, std::condition_variable>>();
  std::unique_lock lock(mu);
  if (loop_failed) return Fail(ErrorCode::kInternal, "the supervisor's event loop failed");
  commands.push_back([fn = std::move(fn), done] {
    fn();
    done->first = true;
    done->second.notify_all();
  });
  const std::uint64_t one = 1;
  if (write(command_fd.get(), &one, sizeof one) < 0) return FailErrno("write command eventfd", errno);
  done->second.wait(lock, [&] { return done->first; });
  return {};
}

Status Supervisor::Impl::PostToPool(std::string_view name, const std::function<void(PoolImpl&)>& fn) {
  bool found = false;
  Status s = Post([&] {
    if (PoolImpl* pool = Find(name)) {
      found = true;
      fn(*pool);
    }
  });
  if (!s) return s;
  if (!found) return Fail(ErrorCode::kInvalidArgument, "no pool named " + std::string(name));
  return {};
}

void Supervisor::Impl::ArmTimer(PoolImpl& pool, Slot& slot, TimerKind kind, std::chrono::nanoseconds after) {
  slot.timer_seq = ++timer_counter;
  timers.emplace(Clock::now() + after, TimerEntry{kind, pool.config.name, slot.index, slot.timer_seq});
  ArmTimerFd();
}

void Supervisor::Impl::ArmTimerFd() {
  itimerspec spec{};
  if (!timers.empty()) {
    const std::int64_t ns = std::max<std::int64_t>(
        1, std::chrono::nanoseconds(timers.begin()->first.time_since_epoch()).count());
    spec.it_value = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  }
  timerfd_settime(timer_fd.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void Supervisor::Impl::RunTimers() {
  std::uint64_t expirations = 0;
  (void)!read(timer_fd.get(), &expirations, sizeof expirations);
  const Clock::time_point now = Clock::now();
  while (!timers.empty() && timers.begin()->first <= now) {
    TimerEntry entry = timers.begin()->second;
    timers.erase(timers.begin());
    if (entry.kind == TimerKind::kCgroupSweep) {
      SweepCgroups();
      continue;
    }
    PoolImpl* pool = FindAny(entry.pool);
    if (pool == nullptr || entry.slot >= pool->slots.size() || !pool->slots[entry.slot]) continue;
    Slot& slot = *pool->slots[entry.slot];
    if (entry.seq != slot.timer_seq) continue;  // re-armed or disarmed since
    switch (entry.kind) {
      case TimerKind::kStart:
        if (slot.worker) {
          slot.worker->failure = "not ready within start_timeout (" +
                                 std::to_string(pool->config.start_timeout.count() / 1'000'000) + " ms)";
        }
        Apply(*pool, slot, WorkerEvent::kStartTimedOut);
        break;
      case TimerKind::kStop: Apply(*pool, slot, WorkerEvent::kStopTimedOut); break;
      case TimerKind::kBackoff: Apply(*pool, slot, WorkerEvent::kBackoffEnded); break;
      case TimerKind::kCgroupSweep: break;
    }
  }
  ArmTimerFd();
}

void Supervisor::Impl::OnReadyNotice(const std::shared_ptr<Worker>& worker) {
  std::uint64_t count = 0;
  (void)!read(worker->notify.get(), &count, sizeof count);
  epoll_ctl(epoll.get(), EPOLL_CTL_DEL, worker->notify.get(), nullptr);
  PoolImpl* pool = nullptr;
  Slot* slot = nullptr;
  for (auto& [name, p] : pools) {
    if ((slot = SlotOf(*p, *worker)) != nullptr) {
      pool = p.get();
      break;
    }
  }
  if (slot == nullptr) return;
  // The worker rang the hello doorbell before writing the eventfd: no wait.
  Status hello = worker->channel->ReadyNow();
  worker->channel->CloseFds();
  if (Status s = hello; !s) {
    worker->failure = s.error().message();
    pool->last_error = "worker " + std::to_string(worker->process.pid) + " failed to start: " + s.error().message();
    return;  // it exits; OnExit decides what comes next
  }
  worker->ready_at = Clock::now();
  worker->was_ready = true;
  worker->notify.Reset();
  Apply(*pool, *slot, WorkerEvent::kReady);
}

WorkerEvent Supervisor::Impl::ClassifyExit(PoolImpl& pool, Slot& slot, Worker& worker, const ExitInfo& exit) {
  if (slot.remove || pool.state == PoolState::kStopping || pool.state == PoolState::kStopped) {
    return WorkerEvent::kExitedStop;
  }
  if (slot.held) return WorkerEvent::kExitedHeld;  // before replace: the operator's stop wins
  if (worker.replace) return WorkerEvent::kExitedReplace;
  const std::string what = "worker " + std::to_string(worker.process.pid) + " " + exit.ToString();
  pool.last_error = worker.failure.empty() ? what : what + ": " + worker.failure;
  if (!exit.signaled && IsPermanentExit(exit.code)) {
    pool.last_error += " (permanent failure: not restarted)";
    return WorkerEvent::kExitedFatal;
  }
  const auto uptime = worker.was_ready ? Clock::now() - worker.ready_at : 0ns;
  RestartPolicy::Decision decision = pool.restart.OnCrash(slot.index, uptime, Clock::now());
  if (decision.fatal) {
    pool.last_error += " (" + decision.reason + ")";
    return WorkerEvent::kExitedFatal;
  }
  ArmTimer(pool, slot, TimerKind::kBackoff, decision.delay);
  return WorkerEvent::kExitedBackoff;
}

void Supervisor::Impl::OnExit(const std::shared_ptr<Worker>& worker) {
  worker->reaped = true;  // from here on, callers leave its pid alone and take it for no call
  for (auto& [name, pool] : pools) {
    pool->idle.erase(std::remove(pool->idle.begin(), pool->idle.end(), worker), pool->idle.end());
  }
  epoll_ctl(epoll.get(), EPOLL_CTL_DEL, worker->process.pidfd.get(), nullptr);
  if (worker->notify) epoll_ctl(epoll.get(), EPOLL_CTL_DEL, worker->notify.get(), nullptr);
  by_token.erase(worker->token);
  std::expected<ExitInfo, Error> exit = Fail(ErrorCode::kInternal, "not reaped");
  bool cgroup_left = false;
  // Only this thread touches a dead worker's process and the cgroup tree: the
  // slow part (cgroup writes wait for the kernel's cgroup mutex) runs
  // without `mu`, so callers finishing their calls never wait for it.
  Unlocked([&] {
    // Grandchildren first, while the worker's pid (and process group) is still ours.
    if (cgroups && !worker->cgroup.empty()) (void)cgroups->Kill(worker->cgroup);
    else kill(-worker->process.pid, SIGKILL);
    exit = Reap(worker->process.pidfd.get(), true);
    worker->exit = exit ? *exit : ExitInfo{true, SIGKILL, false};
    worker->channel->MarkPeerDead();
    if (!worker->tmpdir.empty()) (void)worker::RemoveTree(worker->tmpdir);
    cgroup_left = !worker->cgroup.empty() && cgroups && !cgroups->Remove(worker->cgroup);
  });
  worker->notify.Reset();
  if (cgroup_left) {
    cgroups_to_remove.push_back(worker->cgroup);
    timers.emplace(Clock::now() + 20ms, TimerEntry{TimerKind::kCgroupSweep, {}, 0, 0});
    ArmTimerFd();
  }
  const ExitInfo info = exit ? *exit : ExitInfo{true, SIGKILL, false};
  // Its exit and its ready eventfd may come in one batch, the exit first: the
  // hello (an init failure says why) is still in the channel.
  if (!worker->was_ready && worker->failure.empty()) {
    if (Status hello = worker->channel->ReadyNow(); !hello && hello.error().code() != ErrorCode::kInUse) {
      worker->failure = hello.error().message();
    }
  }
  for (auto& [name, pool] : pools) {
    Slot* slot = SlotOf(*pool, *worker);
    if (slot == nullptr) continue;
    pool->idle.erase(std::remove(pool->idle.begin(), pool->idle.end(), worker), pool->idle.end());
    slot->last_exit = info;
    slot->last_pid = worker->process.pid;
    if (pool->state == PoolState::kStopping || slot->remove || slot->held) {
      slot->stop_outcome = worker->killed ? StopReport::Outcome::kKilled : StopReport::Outcome::kGraceful;
    }
    Apply(*pool, *slot, ClassifyExit(*pool, *slot, *worker, info));
    return;
  }
}

void Supervisor::Impl::SweepCgroups() {
  std::vector<std::string> left = std::move(cgroups_to_remove);
  cgroups_to_remove.clear();
  Unlocked([&] { std::erase_if(left, [&](const std::string& path) { return cgroups->Remove(path).has_value(); }); });
  cgroups_to_remove.insert(cgroups_to_remove.end(), left.begin(), left.end());
  if (!cgroups_to_remove.empty()) {
    timers.emplace(Clock::now() + 20ms, TimerEntry{TimerKind::kCgroupSweep, {}, 0, 0});
  }
}

// ---------------------------------------------------------------- lifecycle actions (mu held)

void Supervisor::Impl::Apply(PoolImpl& pool, Slot& slot, WorkerEvent event) {
  const Transition t = Step(slot.state, event);
  slot.state = t.state;
  Perform(pool, slot, t.action);
}

void Supervisor::Impl::Perform(PoolImpl& pool, Slot& slot, WorkerAction action) {
  switch (action) {
    case WorkerAction::kNone: break;
    case WorkerAction::kRelease:
      slot.timer_seq = ++timer_counter;  // the start timer is moot
      pool.idle.push_back(slot.worker);
      pool.freed.notify_one();
      pool.changed.notify_all();
      if (pool.rolling_now == slot.index) NextRolling(pool);
      break;
    case WorkerAction::kSendStop:
      pool.idle.erase(std::remove(pool.idle.begin(), pool.idle.end(), slot.worker), pool.idle.end());
      (void)slot.worker->channel->RequestStop();
      ArmTimer(pool, slot, TimerKind::kStop, pool.config.stop_timeout);
      break;
    case WorkerAction::kAwaitCall: ArmTimer(pool, slot, TimerKind::kStop, pool.config.stop_timeout); break;
    case WorkerAction::kKill:
      if (!slot.worker) {  // a successor not spawned yet: nothing to kill
        slot.state = WorkerState::kExited;
        return Perform(pool, slot, WorkerAction::kRemove);
      }
      pool.idle.erase(std::remove(pool.idle.begin(), pool.idle.end(), slot.worker), pool.idle.end());
      Kill(pool, *slot.worker);
      break;
    case WorkerAction::kSpawn: SpawnInto(pool, slot); break;
    case WorkerAction::kArmBackoff:
      slot.worker.reset();
      ++pool.restarts;
      break;
    case WorkerAction::kRemove:
      slot.worker.reset();
      if (!slot.stop_outcome) slot.stop_outcome = StopReport::Outcome::kAlreadyDead;
      pool.stop_report.workers.push_back({slot.index, slot.last_pid, *slot.stop_outcome});
      {
        const std::uint32_t index = slot.index;
        pool.slots[index].reset();  // `slot` is gone from here on
        if (pool.rolling_now == index) NextRolling(pool);
      }
      FinishIfStopped(pool);
      break;
    case WorkerAction::kPark:
      slot.worker.reset();
      slot.timer_seq = ++timer_counter;  // a stop or backoff timer is moot
      if (!slot.stop_outcome) slot.stop_outcome = StopReport::Outcome::kAlreadyDead;
      pool.changed.notify_all();
      if (pool.rolling_now == slot.index) NextRolling(pool);
      break;
    case WorkerAction::kReportFatal:
      slot.worker.reset();
      pool.state = PoolState::kFatal;
      StopZygote(pool);
      pool.freed.notify_all();
      pool.changed.notify_all();
      // The pool gave up: the other workers go too.
      for (auto& other : pool.slots) {
        if (other && other.get() != &slot) {
          other->remove = true;
          Apply(pool, *other, WorkerEvent::kStopRequested);
        }
      }
      break;
  }
}

void Supervisor::Impl::SpawnInto(PoolImpl& pool, Slot& slot) {
  const config::PoolConfig& c = pool.config;
  auto worker = std::make_shared<Worker>();
  worker->slot = slot.index;
  worker->generation = ++slot.generation;
  worker->token = next_token++;
  const std::string id = c.name + "." + std::to_string(slot.index) + "." + std::to_string(worker->generation);
  // A start that failed here counts as a crash of the slot.
  auto fail = [&](const Error& error) {
    pool.last_error = "cannot start a worker: " + error.ToString();
    slot.worker = worker;
    worker->reaped = true;
    RestartPolicy::Decision decision = pool.restart.OnCrash(slot.index, 0ns, Clock::now());
    if (decision.fatal) pool.last_error += " (" + decision.reason + ")";
    else ArmTimer(pool, slot, TimerKind::kBackoff, decision.delay);
    Apply(pool, slot, decision.fatal ? WorkerEvent::kExitedFatal : WorkerEvent::kExitedBackoff);
  };
  auto channel = ipc::Channel::Create({.request_capacity = static_cast<std::uint32_t>(c.channel.request),
                                       .response_capacity = static_cast<std::uint32_t>(c.channel.response),
                                       .spin = SpinOptionsFor(c.channel.spin),
                                       .name = "sv-" + id});
  if (!channel) return fail(channel.error());
  worker->channel = std::move(*channel);
  worker->notify = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!worker->notify) return fail(Error::FromErrno("eventfd", errno));
  if (cgroups) {
    auto path = cgroups->CreateWorker(c.name, slot.index, worker->generation);
    if (!path) return fail(path.error());
    worker->cgroup = *path;
  }
  worker->tmpdir = tmp_root + "/" + id;
  SpawnRequest request = RequestFor(pool);
  request.options.index = slot.index;
  request.options.tmpdir = worker->tmpdir;
  request.options.notify = true;
  UniqueFd cgroup_dir;
  if (!worker->cgroup.empty()) {
    cgroup_dir = UniqueFd(open(worker->cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup_dir) return fail(Error::FromErrno("open " + worker->cgroup, errno));
    request.cgroup_fd = cgroup_dir.get();
  }
  request.request_fd = worker->channel->request_fd();
  request.response_fd = worker->channel->response_fd();
  request.notify_fd = worker->notify.get();
  auto process = Start(pool, request, slot.index);
  if (!process) return fail(process.error());
  worker->process = std::move(*process);
  worker->channel->CloseRequestFd();
  worker->spawned_at = Clock::now();
  if (c.recycle.after_calls != 0) {
    const double jitter = c.recycle.jitter_percent / 100.0;
    std::uniform_real_distribution<double> spread(1.0 - jitter, 1.0 + jitter);
    worker->recycle_after = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(static_cast<double>(c.recycle.after_calls) * spread(pool.rng)));
  }
  epoll_event exit_event{EPOLLIN, {.u64 = Key(Source::kPidfd, worker->token)}};
  epoll_event ready_event{EPOLLIN, {.u64 = Key(Source::kNotify, worker->token)}};
  epoll_ctl(epoll.get(), EPOLL_CTL_ADD, worker->process.pidfd.get(), &exit_event);
  epoll_ctl(epoll.get(), EPOLL_CTL_ADD, worker->notify.get(), &ready_event);
  by_token[worker->token] = worker;
  slot.worker = worker;
  ArmTimer(pool, slot, TimerKind::kStart, c.start_timeout);
}

SpawnRequest Supervisor::Impl::RequestFor(const PoolImpl& pool) const {
  SpawnRequest request = supervisor::RequestFor(pool.config, options.worker_path);
  const OutputStream* out = pool.output[static_cast<int>(LogStream::kStdout)];
  const OutputStream* err = pool.output[static_cast<int>(LogStream::kStderr)];
  request.stdout_fd = out != nullptr ? out->write_end.get() : -1;
  request.stderr_fd = err != nullptr ? err->write_end.get() : 2;  // at least where ours go
  return request;
}

std::expected<SpawnedProcess, Error> Supervisor::Impl::Start(PoolImpl& pool, const SpawnRequest& request,
                                                             std::uint32_t index) {
  std::expected<SpawnedProcess, Error> process = Fail(ErrorCode::kInternal, "not spawned");
  if (pool.zygote) {
    const worker::ZygoteRequest fork_request{request.request_fd, request.response_fd, request.notify_fd,
                                             request.cgroup_fd,  index,                request.options.tmpdir};
    const int socket = pool.zygote->socket.get();
    // Only the loop changes a STARTING slot or the zygote: nothing moves meanwhile.
    Unlocked([&] {
      auto pid = worker::ForkFromZygote(socket, fork_request, Deadline::After(pool.config.start_timeout));
      if (!pid) {
        process = std::unexpected(pid.error());
        return;
      }
      // Our unreaped child (CLONE_PARENT): its pid stays its own.
      UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, *pid, 0)));
      if (pidfd) {
        process = SpawnedProcess{*pid, std::move(pidfd)};
        return;
      }
      process = FailErrno("pidfd_open", errno);
      kill(*pid, SIGKILL);
      while (waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    });
    if (process) return process;
    pool.spawner = "exec (the zygote failed: " + process.error().ToString() + ")";
    StopZygote(pool);
    // It may have forked before it failed: a worker nobody holds a pidfd of,
    // on this very channel. Its cgroup finds it; these descriptors are not
    // used again (the slot starts over, from exec, after a backoff). Without
    // cgroups it dies with the supervisor (PR_SET_PDEATHSIG).
    if (request.cgroup_fd >= 0) ReapStrays(request.cgroup_fd);
    return process;
  }
  Unlocked([&] { process = Spawn(request); });
  return process;
}

void Supervisor::Impl::ReapStrays(int cgroup_fd) {
  Unlocked([&] {
    const int procs = openat(cgroup_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    const int kill_fd = openat(cgroup_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
    if (kill_fd >= 0) {
      (void)!write(kill_fd, "1", 1);
      close(kill_fd);
    }
    char text[4096];
    const ssize_t n = procs >= 0 ? pread(procs, text, sizeof text - 1, 0) : -1;
    if (procs >= 0) close(procs);
    text[n > 0 ? n : 0] = '\0';
    // Our children (CLONE_PARENT), killed above: each pid is theirs until reaped.
    for (char* line = text; *line != '\0';) {
      char* end = nullptr;
      const long pid = std::strtol(line, &end, 10);
      if (end == line) break;
      while (pid > 0 && waitpid(static_cast<pid_t>(pid), nullptr, 0) < 0 && errno == EINTR) {
      }
      line = end;
    }
  });
}

void Supervisor::Impl::StartZygote(PoolImpl& pool) {
  StopZygote(pool);
  if (!options.use_zygote) return;
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    pool.spawner = "exec (" + Error::FromErrno("socketpair", errno).ToString() + ")";
    return;
  }
  UniqueFd ours(ends[0]), theirs(ends[1]);
  SpawnRequest request = RequestFor(pool);
  request.options.zygote = true;
  request.request_fd = theirs.get();
  PoolImpl::Zygote zygote;
  UniqueFd cgroup_dir;
  if (cgroups) {
    auto path = cgroups->CreateWorker(pool.config.name + "-zygote", 0, ++pool.zygote_generation);
    if (path) zygote.cgroup = *path;
    if (path) cgroup_dir = UniqueFd(open(path->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    request.cgroup_fd = cgroup_dir.get();
  }
  Status ready = Fail(ErrorCode::kInternal, "not started");
  Unlocked([&] {
    auto process = Spawn(request);
    if (!process) {
      ready = std::unexpected(process.error());
      return;
    }
    zygote.process = std::move(*process);
    theirs.Reset();  // the zygote has its copy; EOF now means it is gone
    ready = worker::AwaitZygote(ours.get(), Deadline::After(pool.config.start_timeout));
  });
  zygote.socket = std::move(ours);
  pool.zygote = std::move(zygote);
  if (ready) {
    pool.spawner = "zygote";
    return;
  }
  pool.spawner = "exec (the zygote did not start: " + ready.error().ToString() + ")";
  StopZygote(pool);
}

void Supervisor::Impl::StopZygote(PoolImpl& pool) {
  if (!pool.zygote) return;
  PoolImpl::Zygote zygote = std::move(*pool.zygote);
  pool.zygote.reset();
  if (pool.spawner == "zygote") pool.spawner = "exec";
  zygote.socket.Reset();
  bool cgroup_left = false;
  Unlocked([&] {
    if (zygote.process.pidfd) {
      (void)SendSignal(zygote.process.pidfd.get(), SIGKILL);
      (void)Reap(zygote.process.pidfd.get(), true);
    }
    if (cgroups && !zygote.cgroup.empty()) {
      (void)cgroups->Kill(zygote.cgroup);
      cgroup_left = !cgroups->Remove(zygote.cgroup);
    }
  });
  if (cgroup_left) {
    cgroups_to_remove.push_back(zygote.cgroup);
    timers.emplace(Clock::now() + 20ms, TimerEntry{TimerKind::kCgroupSweep, {}, 0, 0});
    ArmTimerFd();
  }
}

void Supervisor::Impl::Kill(PoolImpl& pool, Worker& worker) {
  if (worker.reaped) return;  // its pid may belong to someone else now
  if (!worker.killed) ++pool.kills;
  worker.killed = true;
  (void)SendSignal(worker.process.pidfd.get(), SIGKILL);
  // The rest of the tree: the process group now (the leader is unreaped, so
  // the group id is still its own). A cgroup is killed by OnExit, once the
  // leader is dead: writing cgroup.kill waits for the cgroup mutex, which the
  // loop may hold for a mkdir or rmdir, and callers run this too.
  if (!cgroups || worker.cgroup.empty()) kill(-worker.process.pid, SIGKILL);
}

Status Supervisor::Impl::StartPool(PoolImpl& pool) {
  if (pool.state == PoolState::kRunning || pool.state == PoolState::kStopping) return {};
  for (const auto& slot : pool.slots) {
    if (slot && slot->worker) {
      return Fail(ErrorCode::kInUse, "pool " + pool.config.name + " still has workers stopping; start it once they are gone");
    }
  }
  pool.state = PoolState::kRunning;
  pool.rolling.clear();
  pool.rolling_now.reset();
  pool.restart.Reset();
  pool.last_error.clear();
  pool.stop_report = {};
  pool.slots.clear();
  pool.idle.clear();
  StartZygote(pool);
  ResizePool(pool, pool.config.workers + pool.config.spare_workers);
  return {};
}

void Supervisor::Impl::ResizePool(PoolImpl& pool, std::uint32_t workers) {
  std::uint32_t live = 0;
  for (std::uint32_t i = 0; i < pool.slots.size(); ++i) {
    Slot* slot = pool.slots[i].get();
    if (slot == nullptr || slot->remove) continue;
    if (live < workers) {
      ++live;
    } else {
      slot->remove = true;
      Apply(pool, *slot, WorkerEvent::kStopRequested);
    }
  }
  for (std::uint32_t index = 0; live < workers && pool.state == PoolState::kRunning; ++index) {
    if (index >= pool.slots.size()) pool.slots.resize(index + 1);
    if (pool.slots[index]) continue;
    pool.slots[index] = std::make_unique<Slot>();
    pool.slots[index]->index = index;
    SpawnInto(pool, *pool.slots[index]);
    ++live;
  }
  pool.freed.notify_all();  // a larger pool may let a waiting caller in
  pool.changed.notify_all();
}

void Supervisor::Impl::StopPool(PoolImpl& pool) {
  if (pool.state == PoolState::kStopped) return;
  if (pool.state != PoolState::kStopping) pool.stop_report = {pool.config.name, {}};
  pool.state = PoolState::kStopping;
  pool.rolling.clear();
  pool.rolling_now.reset();
  pool.freed.notify_all();
  for (auto& slot : pool.slots) {
    if (!slot) continue;
    if (slot->state == WorkerState::kStopped) {  // held: its process went earlier
      slot->stop_outcome.reset();
      slot->last_pid = 0;
    }
    Apply(pool, *slot, WorkerEvent::kStopRequested);
  }
  FinishIfStopped(pool);
}

void Supervisor::Impl::FinishIfStopped(PoolImpl& pool) {
  const bool empty = std::none_of(pool.slots.begin(), pool.slots.end(), [](const auto& s) { return s != nullptr; });
  if (empty && pool.state == PoolState::kStopping) pool.state = PoolState::kStopped;
  if (pool.state == PoolState::kStopped) StopZygote(pool);
  pool.changed.notify_all();
}

void Supervisor::Impl::RollingRestart(PoolImpl& pool) {
  StartZygote(pool);  // the plugin file or its settings may have changed
  pool.rolling.clear();
  for (const auto& slot : pool.slots) {
    if (slot && !slot->remove && !slot->held) pool.rolling.push_back(slot->index);
  }
  if (!pool.rolling_now) NextRolling(pool);
}

void Supervisor::Impl::NextRolling(PoolImpl& pool) {
  pool.rolling_now.reset();
  while (!pool.rolling.empty()) {
    const std::uint32_t index = pool.rolling.front();
    pool.rolling.erase(pool.rolling.begin());
    if (index >= pool.slots.size() || !pool.slots[index] || !pool.slots[index]->worker || pool.slots[index]->held) {
      continue;
    }
    Slot& slot = *pool.slots[index];
    slot.worker->replace = true;
    pool.rolling_now = index;
    // Idle: stop it now; busy: after its call, within stop_timeout.
    Apply(pool, slot, WorkerEvent::kStopRequested);
    return;
  }
}

PoolImpl* Supervisor::Impl::Find(std::string_view name) {
  PoolImpl* pool = FindAny(name);
  return pool != nullptr && !pool->removed ? pool : nullptr;
}

PoolImpl* Supervisor::Impl::FindAny(std::string_view name) {
  auto it = pools.find(name);
  return it == pools.end() ? nullptr : it->second.get();
}

Slot* Supervisor::Impl::SlotOf(PoolImpl& pool, const Worker& worker) {
  if (worker.slot >= pool.slots.size() || !pool.slots[worker.slot]) return nullptr;
  Slot* slot = pool.slots[worker.slot].get();
  return slot->worker.get() == &worker ? slot : nullptr;
}

// ---------------------------------------------------------------- callers

std::expected<std::shared_ptr<Worker>, Error> Supervisor::Impl::Acquire(PoolImpl& pool,
                                                                        std::unique_lock<std::mutex>& lock,
                                                                        Deadline deadline) {
  bool counted = false;  // in pool.waiting; the guard takes it out on every way out
  struct Uncount {
    PoolImpl& pool;
    const bool& counted;
    ~Uncount() {
      if (counted) --pool.waiting;
    }
  } uncount{pool, counted};
  for (;;) {
    if (pool.state == PoolState::kFatal) {
      return Fail(ErrorCode::kStartFailed, "pool " + pool.config.name + " is FATAL: " + pool.last_error);
    }
    if (pool.state != PoolState::kRunning) {
      return Fail(ErrorCode::kPoolStopped, "pool " + pool.config.name + " is " +
                                               std::string(PoolStateName(pool.state)));
    }
    if (!pool.idle.empty() && pool.busy < pool.config.workers) {
      // Last in, first out: the worker that just answered is still spinning
      // and has the plugin's data in cache; the others may sleep.
      std::shared_ptr<Worker> worker = std::move(pool.idle.back());
      pool.idle.pop_back();
      Slot* slot = SlotOf(pool, *worker);
      if (slot == nullptr || slot->state != WorkerState::kReady || worker->reaped) continue;
      Apply(pool, *slot, WorkerEvent::kCallStarted);
      ++pool.busy;
      return worker;
    }
    if (!counted) {
      if (pool.waiting >= pool.config.max_queue) {
        return Fail(ErrorCode::kOverloaded, "pool " + pool.config.name + ": every worker is busy and " +
                                                std::to_string(pool.waiting) + " callers already wait");
      }
      ++pool.waiting;
      counted = true;
    }
    const bool free_now = !pool.idle.empty() && pool.busy < pool.config.workers;
    if (!free_now && pool.freed.wait_until(lock, deadline.when()) == std::cv_status::timeout &&
        (pool.idle.empty() || pool.busy >= pool.config.workers)) {
      return Fail(ErrorCode::kDeadlineExceeded, "pool " + pool.config.name + ": no worker became free before the deadline");
    }
  }
}

void Supervisor::Impl::Finish(PoolImpl& pool, const std::shared_ptr<Worker>& worker,
                              const std::expected<std::string, Error>& result, Clock::duration took) {
  ++pool.calls;
  ++pool.durations.counts[DurationBucket(took)];
  pool.durations.sum_seconds += std::chrono::duration<double>(took).count();
  ++worker->calls;
  --pool.busy;
  pool.freed.notify_one();  // a warm spare may be free to take the next call
  if (!result) ++pool.failures[std::string(ErrorCodeName(result.error().code()))];
  Slot* slot = SlotOf(pool, *worker);
  if (slot == nullptr) return;  // already gone and replaced
  const ErrorCode code = result ? ErrorCode::kInternal : result.error().code();
  const bool broken = !result && (code == ErrorCode::kDeadlineExceeded || code == ErrorCode::kProtocolViolation ||
                                  code == ErrorCode::kWorkerCrashed || code == ErrorCode::kClosed ||
                                  code == ErrorCode::kInternal);
  if (broken) {
    worker->failure = result.error().message();
    // A call that ran out of time was killed on our orders: the plugin is
    // slow on that input, not crashing, so the successor starts at once and
    // the restart policy does not count it.
    const bool timed_out = code == ErrorCode::kDeadlineExceeded && pool.state == PoolState::kRunning;
    worker->replace = timed_out;
    return Apply(pool, *slot, WorkerEvent::kCallFailed);
  }
  bool recycle = worker->recycle_after != 0 && worker->calls >= worker->recycle_after;
  if (pool.config.recycle.max_rss) {
    worker->rss = ReadRss(worker->process.pid);
    recycle = recycle || worker->rss > *pool.config.recycle.max_rss;
  }
  if (recycle && pool.state == PoolState::kRunning) worker->replace = true;
  Apply(pool, *slot, recycle ? WorkerEvent::kCallRecycle : WorkerEvent::kCallFinished);
}

std::expected<std::string, Error> Supervisor::Impl::Call(PoolImpl& pool, const std::string& pool_name,
                                                         std::string_view method, std::string_view input,
                                                         std::optional<Deadline> deadline) {
  // One clock read for the default deadline and the duration: the hot path.
  const Clock::time_point start = Clock::now();
  std::unique_lock lock(mu);
  if (pool.removed) return Fail(ErrorCode::kPoolStopped, "pool " + pool_name + " no longer exists");
  const Deadline until = deadline ? *deadline : DeadlineFrom(start, pool.config.call_timeout);
  auto worker = Acquire(pool, lock, until);
  if (!worker) return std::unexpected(worker.error());
  lock.unlock();
  auto result = (*worker)->channel->Call(method, input, until);
  const Clock::duration took = Clock::now() - start;
  lock.lock();
  Finish(pool, *worker, result, took);  // removed by Apply() meanwhile or not: it is still there
  lock.unlock();
  if (!result) result = std::unexpected(CallError(pool_name, method, **worker, result.error()));
  return result;
}

Error Supervisor::Impl::CallError(const std::string& pool_name, std::string_view method, const Worker& worker,
                                  const Error& error) {
  const std::string pid = std::to_string(worker.process.pid);
  switch (error.code()) {
    case ErrorCode::kWorkerCrashed:
      return Error(ErrorCode::kWorkerCrashed, "worker " + pid + " of pool " + pool_name + " " +
                                                  (worker.exit ? worker.exit->ToString() : "died") + " during the call");
    case ErrorCode::kDeadlineExceeded:
      return Error(ErrorCode::kDeadlineExceeded, "pool " + pool_name + ": call to " + std::string(method) +
                                                     " exceeded its deadline; worker " + pid + " killed");
    default: return error;
  }
}

std::expected<std::string, Error> Pool::Call(std::string_view method, std::string_view input,
                                             std::optional<Deadline> deadline) {
  return owner_->impl_->Call(*pool_, name_, method, input, deadline);
}

// ---------------------------------------------------------------- operator API

Pool* Supervisor::pool(std::string_view name) {
  std::lock_guard lock(impl_->mu);
  PoolImpl* p = impl_->Find(name);
  if (p == nullptr) return nullptr;
  if (!p->handle) p->handle.reset(new Pool(this, std::string(name), p));
  return p->handle.get();
}

namespace {

// Workers READY or BUSY, and how many the pool wants: every slot not on its
// way out and not held down by an operator.
std::pair<std::uint32_t, std::uint32_t> Readiness(const PoolImpl& pool) {
  std::uint32_t ready = 0, held = 0;
  for (const auto& slot : pool.slots) {
    if (!slot || slot->remove) continue;
    held += slot->held;
    ready += !slot->held && (slot->state == WorkerState::kReady || slot->state == WorkerState::kBusy);
  }
  const std::uint32_t want = pool.config.workers + pool.config.spare_workers;
  return {ready, want > held ? want - held : 0};
}

bool AllReady(const PoolImpl& pool) {
  auto [ready, want] = Readiness(pool);
  return ready >= want;
}

std::string ReadyText(const PoolImpl& pool) {
  auto [ready, want] = Readiness(pool);
  return std::to_string(ready) + " of " + std::to_string(want) + " workers ready" +
         (pool.last_error.empty() ? "" : "; last error: " + pool.last_error);
}

// "0-3, 6": the live slots of a pool, for error messages.
std::string SlotList(const PoolImpl& pool) {
  std::string out;
  for (std::size_t i = 0; i < pool.slots.size(); ++i) {
    if (!pool.slots[i] || pool.slots[i]->remove) continue;
    std::size_t last = i;
    while (last + 1 < pool.slots.size() && pool.slots[last + 1] && !pool.slots[last + 1]->remove) ++last;
    out += (out.empty() ? "" : ", ") + std::to_string(i) + (last > i ? "-" + std::to_string(last) : "");
    i = last;
  }
  return out.empty() ? "none" : out;
}

}  // namespace

Status Supervisor::Impl::WaitPool(std::unique_lock<std::mutex>& lock, std::string_view name, Deadline deadline,
                                  const std::function<bool(PoolImpl&)>& done,
                                  const std::function<std::string(PoolImpl&)>& why_late) {
  const std::string pool_name(name);
  for (;;) {
    PoolImpl* pool = FindAny(name);
    if (pool == nullptr || pool->removed) return Fail(ErrorCode::kInvalidArgument, "no pool named " + pool_name);
    if (pool->state == PoolState::kFatal) {
      return Fail(ErrorCode::kStartFailed, "pool " + pool_name + " is FATAL: " + pool->last_error);
    }
    if (pool->state != PoolState::kRunning) {
      return Fail(ErrorCode::kPoolStopped, "pool " + pool_name + " is " + std::string(PoolStateName(pool->state)));
    }
    if (done(*pool)) return {};
    if (pool->changed.wait_until(lock, deadline.when()) == std::cv_status::timeout && !done(*pool)) {
      return Fail(ErrorCode::kDeadlineExceeded, "pool " + pool_name + ": " + why_late(*pool));
    }
  }
}

Status Supervisor::WaitReady(std::string_view name, Deadline deadline) {
  std::unique_lock lock(impl_->mu);
  if (impl_->Find(name) == nullptr) return Fail(ErrorCode::kInvalidArgument, "no pool named " + std::string(name));
  // A stopped pool is waited for: Start() may come from another thread.
  for (;;) {
    PoolImpl* pool = impl_->Find(name);
    if (pool->state == PoolState::kRunning || pool->state == PoolState::kFatal) break;
    if (pool->changed.wait_until(lock, deadline.when()) == std::cv_status::timeout) {
      return Fail(ErrorCode::kDeadlineExceeded, "pool " + std::string(name) + " is " +
                                                    std::string(PoolStateName(pool->state)));
    }
  }
  return impl_->WaitPool(lock, name, deadline, AllReady, ReadyText);
}

Status Supervisor::Start(std::string_view name) {
  Status started;
  if (Status s = impl_->PostToPool(name, [&](PoolImpl& pool) { started = impl_->StartPool(pool); }); !s) return s;
  return started;
}

std::expected<StopReport, Error> Supervisor::Stop(std::string_view name, Deadline deadline) {
  if (Status s = impl_->PostToPool(name, [&](PoolImpl& pool) { impl_->StopPool(pool); }); !s) {
    return std::unexpected(s.error());
  }
  std::unique_lock lock(impl_->mu);
  PoolImpl* pool = impl_->FindAny(name);
  while (pool->state == PoolState::kStopping) {
    if (pool->changed.wait_until(lock, deadline.when()) == std::cv_status::timeout) {
      return Fail(ErrorCode::kDeadlineExceeded, "pool " + std::string(name) + " still stopping");
    }
  }
  StopReport report = pool->stop_report;
  report.pool = std::string(name);
  std::sort(report.workers.begin(), report.workers.end(), [](auto& a, auto& b) { return a.slot < b.slot; });
  return report;
}

Status Supervisor::Restart(std::string_view name, std::optional<Deadline> wait) {
  Status restarted;
  Status posted = impl_->PostToPool(name, [&](PoolImpl& pool) {
    if (pool.state != PoolState::kRunning) {
      restarted = impl_->StartPool(pool);
      return;
    }
    impl_->RollingRestart(pool);
  });
  if (!posted) return posted;
  if (!restarted || !wait) return restarted;
  std::unique_lock lock(impl_->mu);
  return impl_->WaitPool(
      lock, name, *wait, [](PoolImpl& pool) { return pool.rolling.empty() && !pool.rolling_now && AllReady(pool); },
      [](PoolImpl& pool) {
        const std::size_t left = pool.rolling.size() + (pool.rolling_now ? 1 : 0);
        return "restart not finished: " + std::to_string(left) + " slots still to replace, " + ReadyText(pool);
      });
}

std::expected<StopReport, Error> Supervisor::StopWorker(std::string_view name, std::uint32_t index,
                                                        Deadline deadline) {
  std::expected<pid_t, Error> pid = 0;
  Status posted = impl_->PostToPool(name, [&](PoolImpl& pool) { pid = impl_->HoldSlot(pool, index); });
  if (!posted) return std::unexpected(posted.error());
  if (!pid) return std::unexpected(pid.error());
  std::unique_lock lock(impl_->mu);
  std::optional<StopReport::Outcome> outcome;
  Status gone = impl_->WaitPool(
      lock, name, deadline,
      [&](PoolImpl& pool) {
        Slot* slot = index < pool.slots.size() ? pool.slots[index].get() : nullptr;
        // Removed (a shrink) or started again by someone else: gone as well.
        if (slot != nullptr && slot->held && slot->state != WorkerState::kStopped) return false;
        outcome = slot != nullptr && slot->held ? slot->stop_outcome : std::nullopt;
        return true;
      },
      [&](PoolImpl&) { return "worker " + std::to_string(*pid) + " of slot " + std::to_string(index) + " still stopping"; });
  if (!gone) return std::unexpected(gone.error());
  const auto how = *pid == 0 ? StopReport::Outcome::kAlreadyDead : outcome.value_or(StopReport::Outcome::kGraceful);
  return StopReport{std::string(name), {{index, *pid, how}}};
}

Status Supervisor::StartWorker(std::string_view name, std::uint32_t index, std::optional<Deadline> wait) {
  return impl_->RunAndWait(name, index, false, wait);
}

Status Supervisor::RestartWorker(std::string_view name, std::uint32_t index, std::optional<Deadline> wait) {
  return impl_->RunAndWait(name, index, true, wait);
}

Status Supervisor::Impl::RunAndWait(std::string_view name, std::uint32_t index, bool replace,
                                    std::optional<Deadline> wait) {
  std::expected<std::uint64_t, Error> generation = 0;
  Status posted = PostToPool(name, [&](PoolImpl& pool) { generation = RunSlot(pool, index, replace); });
  if (!posted) return posted;
  if (!generation || !wait) return generation ? Status{} : std::unexpected(generation.error());
  const std::string slot_name = "slot " + std::to_string(index);
  std::unique_lock lock(mu);
  std::optional<Error> interrupted;
  Status ready = WaitPool(
      lock, name, *wait,
      [&](PoolImpl& pool) {
        Slot* slot = index < pool.slots.size() ? pool.slots[index].get() : nullptr;
        if (slot == nullptr || slot->remove) interrupted = Error(ErrorCode::kInvalidArgument, slot_name + " was removed");
        else if (slot->held) interrupted = Error(ErrorCode::kStopped, slot_name + " was stopped meanwhile");
        return interrupted || (slot->generation >= *generation &&
                               (slot->state == WorkerState::kReady || slot->state == WorkerState::kBusy));
      },
      [&](PoolImpl& pool) {
        const Slot& slot = *pool.slots[index];
        return slot_name + " is " + std::string(WorkerStateName(slot.state)) +
               (pool.last_error.empty() ? "" : "; last error: " + pool.last_error);
      });
  if (ready && interrupted) return std::unexpected(Error(interrupted->code(), "pool " + std::string(name) + ": " + interrupted->message()));
  return ready;
}

std::expected<std::vector<SignalledWorker>, Error> Supervisor::Signal(std::string_view name,
                                                                      std::optional<std::uint32_t> index, int signo) {
  if (signo < 1 || signo > SIGRTMAX) {
    return Fail(ErrorCode::kInvalidArgument, "signal " + std::to_string(signo) + " is not in 1.." + std::to_string(SIGRTMAX));
  }
  std::vector<SignalledWorker> sent;
  Status signalled;
  Status posted = impl_->PostToPool(name, [&](PoolImpl& pool) { signalled = impl_->SignalSlots(pool, index, signo, &sent); });
  if (!posted) return std::unexpected(posted.error());
  if (!signalled) return std::unexpected(signalled.error());
  return sent;
}

std::expected<Slot*, Error> Supervisor::Impl::SlotFor(PoolImpl& pool, std::uint32_t index) {
  const std::string& name = pool.config.name;
  Slot* slot = index < pool.slots.size() ? pool.slots[index].get() : nullptr;
  if (pool.state != PoolState::kRunning) {
    if (index < pool.config.workers + pool.config.spare_workers) {
      return Fail(ErrorCode::kPoolStopped, "pool " + name + " is " + std::string(PoolStateName(pool.state)));
    }
  } else if (slot != nullptr && !slot->remove) {
    return slot;
  }
  return Fail(ErrorCode::kInvalidArgument, "pool " + name + " has no slot " + std::to_string(index) +
                                               " (slots: " + SlotList(pool) + ")");
}

std::expected<pid_t, Error> Supervisor::Impl::HoldSlot(PoolImpl& pool, std::uint32_t index) {
  auto found = SlotFor(pool, index);
  if (!found) return std::unexpected(found.error());
  Slot& slot = **found;
  const pid_t pid = slot.worker && !slot.worker->reaped ? slot.worker->process.pid : 0;
  if (!slot.held) slot.stop_outcome.reset();  // of an earlier stop
  slot.held = true;
  Apply(pool, slot, WorkerEvent::kHoldRequested);
  return pid;
}

std::expected<std::uint64_t, Error> Supervisor::Impl::RunSlot(PoolImpl& pool, std::uint32_t index, bool replace) {
  auto found = SlotFor(pool, index);
  if (!found) return std::unexpected(found.error());
  Slot& slot = **found;
  const bool was_held = std::exchange(slot.held, false);
  switch (slot.state) {
    case WorkerState::kStopped: Apply(pool, slot, WorkerEvent::kStartRequested); return slot.generation;
    case WorkerState::kBackoff:
      if (replace) Apply(pool, slot, WorkerEvent::kBackoffEnded);
      return slot.generation;
    case WorkerState::kStopping:
      // Held, or being replaced already: its exit now starts the next one at once.
      if (was_held || replace) slot.worker->replace = true;
      return slot.generation + 1;
    case WorkerState::kStarting:
    case WorkerState::kReady:
    case WorkerState::kBusy:
      if (!replace) return slot.generation;
      slot.worker->replace = true;
      Apply(pool, slot, WorkerEvent::kStopRequested);
      return slot.generation + 1;
    case WorkerState::kExited:
    case WorkerState::kFatal: break;  // gone from a RUNNING pool's live slots
  }
  return slot.generation;
}

Status Supervisor::Impl::SignalSlots(PoolImpl& pool, std::optional<std::uint32_t> index, int signo,
                                     std::vector<SignalledWorker>* sent) {
  std::vector<Slot*> slots;
  if (index) {
    auto found = SlotFor(pool, *index);
    if (!found) return std::unexpected(found.error());
    slots.push_back(*found);
  } else {
    for (auto& slot : pool.slots) {
      if (slot) slots.push_back(slot.get());
    }
  }
  for (Slot* slot : slots) {
    const std::shared_ptr<Worker>& worker = slot->worker;
    // Unreaped, so the pidfd still names this process.
    if (!worker || worker->reaped || !SendSignal(worker->process.pidfd.get(), signo)) continue;
    sent->push_back({slot->index, worker->process.pid});
  }
  return {};
}

Status Supervisor::Resize(std::string_view name, std::uint32_t workers) {
  if (workers == 0 || workers > config::kMaxWorkers) {
    return Fail(ErrorCode::kInvalidArgument, "workers must be 1.." + std::to_string(config::kMaxWorkers));
  }
  return impl_->PostToPool(name, [&](PoolImpl& pool) {
    pool.config.workers = workers;
    if (pool.state == PoolState::kRunning) impl_->ResizePool(pool, workers + pool.config.spare_workers);
  });
}

Status Supervisor::Apply(const config::Config& config) {
  std::vector<std::pair<std::string, std::chrono::nanoseconds>> removed;
  Status s = impl_->Post([&] {
    for (auto& [name, pool] : impl_->pools) {
      if (!config.pools.contains(name) && !pool->removed) {
        // Kept, never erased: callers, waiters and handles may still point at it.
        pool->removed = true;
        removed.emplace_back(name, pool->config.stop_timeout);
        impl_->StopPool(*pool);
      }
    }
    for (const auto& [name, wanted] : config.pools) impl_->ApplyPool(name, wanted);
  });
  if (!s) return s;
  // Removed pools leave once their workers are gone.
  for (const auto& [name, grace] : removed) {
    std::unique_lock lock(impl_->mu);
    PoolImpl* pool = impl_->FindAny(name);
    const Deadline deadline = Deadline::After(grace + 2s);
    while (pool->state == PoolState::kStopping && pool->changed.wait_until(lock, deadline.when()) != std::cv_status::timeout) {
    }
  }
  return {};
}

void Supervisor::Impl::ApplyPool(const std::string& name, const config::PoolConfig& wanted) {
  PoolImpl* pool = FindAny(name);
  if (pool == nullptr) {
    pool = pools.emplace(name, std::make_unique<PoolImpl>()).first->second.get();
    pool->removed = true;  // taken as a re-add below
    (void)OpenOutput(*pool, name);  // without pipes, its output goes to /dev/null and our stderr
  }
  if (pool->removed) {
    pool->removed = false;
    pool->config = wanted;
    pool->restart = RestartPolicy(RestartFor(wanted.restart), std::random_device{}());
    if (wanted.autostart) (void)StartPool(*pool);
    return;
  }
  config::Config before, after;
  before.pools[name] = pool->config;
  after.pools[name] = wanted;
  const config::ConfigDiff diff = config::Diff(before, after);
  if (diff.changed.empty()) return;
  const bool restart = diff.changed.front().restart_workers;
  pool->config = wanted;
  pool->restart = RestartPolicy(RestartFor(wanted.restart), std::random_device{}());
  if (pool->state != PoolState::kRunning) return;
  ResizePool(*pool, wanted.workers + wanted.spare_workers);
  if (restart) RollingRestart(*pool);
}

std::expected<LogRead, Error> Supervisor::ReadLog(std::string_view name, LogStream stream, const LogQuery& query,
                                                  std::optional<Deadline> wait) {
  OutputStream* out = nullptr;
  {
    std::lock_guard lock(impl_->mu);
    PoolImpl* pool = impl_->Find(name);
    if (pool == nullptr) return Fail(ErrorCode::kInvalidArgument, "no pool named " + std::string(name));
    out = pool->output[static_cast<int>(stream)];
  }
  if (out == nullptr) return LogRead{};  // no pipe: the output went elsewhere
  if (!query.after) return out->buffer.Tail(query.tail);
  if (!wait) return out->buffer.After(*query.after, query.limit);
  return out->buffer.WaitAfter(*query.after, query.limit, *wait);
}

std::vector<PoolStatus> Supervisor::Snapshot(SnapshotOptions options) const {
  std::vector<PoolStatus> out = impl_->SnapshotLocked();
  if (!options.rss) return out;
  // /proc reads outside the mutex: a thousand of them would hold up callers.
  for (auto& pool : out) {
    for (auto& w : pool.workers) {
      if (w.pid > 0 && w.rss_bytes == 0) w.rss_bytes = ReadRss(w.pid);
    }
  }
  return out;
}

std::vector<PoolStatus> Supervisor::Impl::SnapshotLocked() const {
  std::lock_guard lock(mu);
  std::vector<PoolStatus> out;
  const Clock::time_point now = Clock::now();
  for (const auto& [name, pool] : pools) {
    if (pool->removed) continue;
    PoolStatus status{name, pool->state, pool->last_error, kill_scope, pool->spawner,
                      pool->zygote ? pool->zygote->process.pid : 0,
                      pool->config.workers + pool->config.spare_workers, pool->waiting,
                      pool->calls, pool->failures, pool->restarts, pool->kills, pool->durations, {}, {}, {}};
    if (const OutputStream* o = pool->output[0]) status.stdout_log = o->buffer.Stats();  // LogStream::kStdout
    if (const OutputStream* e = pool->output[1]) status.stderr_log = e->buffer.Stats();  // LogStream::kStderr
    for (const auto& slot : pool->slots) {
      if (!slot) continue;
      WorkerStatus w{slot->index, slot->state, 0, 0ns, 0, slot->generation, 0, slot->last_exit};
      if (const auto& worker = slot->worker) {
        w.pid = worker->process.pid;
        w.calls = worker->calls;
        w.rss_bytes = worker->rss;  // 0: read by Snapshot() after the lock
        if (worker->was_ready) w.uptime = now - worker->ready_at;
      }
      status.workers.push_back(w);
    }
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace sv::supervisor
