// The embedded supervisor against real sv-worker processes: calls, deadlines,
// crashes, restart limits, recycling, stop, resize, apply, concurrency, and
// what is left behind afterwards. Runs in the test process.
#include "supervisor/supervisor.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "config/load.h"
#include "supervisor/probe.h"
#include "tests/helpers/pidfd.h"
#include "tests/helpers/worker_process.h"

namespace sv::supervisor {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Deadline Soon() { return Deadline::After(20s); }

config::PoolConfig MakePool(const std::string& name, const std::string& plugin, std::uint32_t workers = 1) {
  config::PoolConfig pool;
  pool.name = name;
  pool.plugin = testing::PluginPath(plugin);
  pool.workers = workers;
  pool.call_timeout = 10s;
  pool.start_timeout = 10s;
  pool.stop_timeout = 1s;
  pool.restart.backoff_initial = 1ms;
  pool.restart.backoff_max = 10ms;
  pool.channel.request = 1 << 16;
  pool.channel.response = 1 << 16;
  return pool;
}

std::unique_ptr<Supervisor> Start(std::vector<config::PoolConfig> pools, bool use_zygote = true) {
  config::Config config;
  for (auto& pool : pools) config.pools[pool.name] = pool;
  auto supervisor = Supervisor::Create(config, {.worker_path = testing::WorkerPath(), .use_zygote = use_zygote});
  EXPECT_TRUE(supervisor) << supervisor.error().ToString();
  if (!supervisor) return nullptr;
  for (auto& pool : pools) {
    if (!pool.autostart) continue;
    Status ready = (*supervisor)->WaitReady(pool.name, Soon());
    EXPECT_TRUE(ready) << ready.error().ToString();
  }
  return std::move(*supervisor);
}

PoolStatus StatusOf(Supervisor& s, const std::string& name) {
  for (auto& pool : s.Snapshot()) {
    if (pool.name == name) return pool;
  }
  ADD_FAILURE() << "no pool " << name;
  return {};
}

// A pidfd of the worker `pid` names, opened while it runs: whether it has
// exited is asked of the pidfd, never of the pid, which another test's
// process may take once the worker is gone (pid_max can be 32768).
UniqueFd WatchWorker(pid_t pid) {
  UniqueFd pidfd = testing::PidfdOpen(pid);
  EXPECT_TRUE(pidfd) << "pidfd_open " << pid;
  return pidfd;
}

// For a process that must have exited already (a deadline that has passed:
// Exited asks without waiting).
Deadline Now() { return Deadline::After(0s); }

// Polls `done` until it holds or `deadline`; a bounded wait for an effect
// the kernel completes asynchronously (a killed process disappearing).
template <class Fn>
bool Eventually(Fn done, Deadline deadline = Soon()) {
  while (!done()) {
    if (deadline.Expired()) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

std::size_t OpenFds() {
  std::size_t n = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n;
}

TEST(SupervisorTest, CallsReachEveryWorker) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  for (int i = 0; i < 100; ++i) {
    auto out = s->pool("echo")->Call("echo", "hello " + std::to_string(i));
    ASSERT_TRUE(out) << out.error().ToString();
    EXPECT_EQ(*out, "hello " + std::to_string(i));
  }
  PoolStatus status = StatusOf(*s, "echo");
  EXPECT_EQ(status.state, PoolState::kRunning);
  ASSERT_EQ(status.workers.size(), 2u);
  EXPECT_EQ(status.calls, 100u);
  for (const auto& w : status.workers) EXPECT_GT(w.pid, 0);
}

TEST(SupervisorTest, HungCallFailsAtItsDeadlineAndTheNextCallSucceeds) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  const pid_t before = StatusOf(*s, "m").workers.at(0).pid;
  const UniqueFd before_pidfd = WatchWorker(before);
  const auto start = Clock::now();
  auto out = s->pool("m")->Call("hang_futex", "", Deadline::After(200ms));
  const auto took = Clock::now() - start;
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kDeadlineExceeded) << out.error().ToString();
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 700ms);
  EXPECT_TRUE(testing::Exited(before_pidfd.get(), Soon())) << "worker " << before << " survived";
  auto next = s->pool("m")->Call("echo", "still here");
  ASSERT_TRUE(next) << next.error().ToString();
  EXPECT_EQ(*next, "still here");
  PoolStatus status = StatusOf(*s, "m");
  EXPECT_NE(status.workers.at(0).pid, before);
  EXPECT_EQ(status.restarts, 0u);  // a deadline kill is not a crash
  EXPECT_EQ(status.kills, 1u);
}

TEST(SupervisorTest, CrashMidCallIsWorkerCrashedWithTheSignal) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  auto out = s->pool("m")->Call("segfault", "");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kWorkerCrashed);
  EXPECT_NE(out.error().message().find("SIGSEGV"), std::string::npos) << out.error().message();
  ASSERT_TRUE(s->WaitReady("m", Soon()));
  auto next = s->pool("m")->Call("echo", "again");
  ASSERT_TRUE(next) << next.error().ToString();
  EXPECT_EQ(StatusOf(*s, "m").restarts, 1u);
}

TEST(SupervisorTest, CrashLoopTurnsThePoolFatalWithoutARestartStorm) {
  config::PoolConfig pool = MakePool("m", "misbehave");
  pool.restart.intensity = 3;
  pool.restart.period = 60s;
  auto s = Start({pool});
  ASSERT_TRUE(s);
  int crashes = 0;
  for (int i = 0; i < 20; ++i) {
    (void)s->WaitReady("m", Deadline::After(5s));
    auto out = s->pool("m")->Call("abort", "");
    ASSERT_FALSE(out);
    if (out.error().code() == ErrorCode::kStartFailed) break;
    ++crashes;
  }
  EXPECT_EQ(crashes, 4);  // the 4th crash in the period is one more than the intensity
  PoolStatus status = StatusOf(*s, "m");
  EXPECT_EQ(status.state, PoolState::kFatal);
  EXPECT_NE(status.last_error.find("intensity 3"), std::string::npos) << status.last_error;
  EXPECT_EQ(status.restarts, 3u);
  auto refused = s->pool("m")->Call("echo", "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kStartFailed);
  // An operator start brings it back.
  ASSERT_TRUE(s->Start("m"));
  ASSERT_TRUE(s->WaitReady("m", Soon()));
  EXPECT_TRUE(s->pool("m")->Call("echo", "back"));
}

TEST(SupervisorTest, PermanentExitTurnsThePoolFatalAtOnce) {
  config::PoolConfig pool = MakePool("bad", "init_fails");
  auto s = Supervisor::Create({.pools = {{"bad", pool}}}, {.worker_path = testing::WorkerPath()});
  ASSERT_TRUE(s);
  Status ready = (*s)->WaitReady("bad", Soon());
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code(), ErrorCode::kStartFailed);
  EXPECT_NE(ready.error().message().find("cannot reach the database"), std::string::npos) << ready.error().message();
  EXPECT_EQ(StatusOf(**s, "bad").restarts, 0u);
}

TEST(SupervisorTest, SetsidGrandchildIsGoneAfterItsWorkerIsKilled) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  auto child = s->pool("m")->Call("fork_setsid", "");
  ASSERT_TRUE(child) << child.error().ToString();
  const pid_t grandchild = std::stoi(*child);
  // A pidfd, not the pid: once the grandchild is gone its pid may belong to
  // another test's process (pid_max can be 32768).
  const UniqueFd pidfd = testing::PidfdOpen(grandchild);
  ASSERT_TRUE(pidfd) << "pidfd_open " << grandchild;
  EXPECT_FALSE(testing::Exited(pidfd.get(), Now())) << "the grandchild died early";
  auto hung = s->pool("m")->Call("hang_futex", "", Deadline::After(50ms));
  ASSERT_FALSE(hung);
  EXPECT_TRUE(testing::Exited(pidfd.get(), Soon())) << "grandchild " << grandchild << " survived";
}

TEST(SupervisorTest, StopKillsAHungWorkerAfterStopTimeoutAndReportsIt) {
  config::PoolConfig pool = MakePool("m", "misbehave", 2);
  pool.stop_timeout = 300ms;
  auto s = Start({pool});
  ASSERT_TRUE(s);
  std::jthread caller([&] { (void)s->pool("m")->Call("spin_signals_blocked", "", Deadline::After(30s)); });
  ASSERT_TRUE(Eventually([&] { return StatusOf(*s, "m").workers.at(0).state == WorkerState::kBusy ||
                                      StatusOf(*s, "m").workers.at(1).state == WorkerState::kBusy; }));
  const auto start = Clock::now();
  auto report = s->Stop("m", Soon());
  const auto took = Clock::now() - start;
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 1300ms);
  ASSERT_EQ(report->workers.size(), 2u);
  int killed = 0, graceful = 0;
  for (const auto& w : report->workers) {
    killed += w.outcome == StopReport::Outcome::kKilled;
    graceful += w.outcome == StopReport::Outcome::kGraceful;
  }
  EXPECT_EQ(killed, 1);
  EXPECT_EQ(graceful, 1);
  EXPECT_EQ(StatusOf(*s, "m").state, PoolState::kStopped);
  auto refused = s->pool("m")->Call("echo", "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPoolStopped);
}

TEST(SupervisorTest, RecyclingLosesNoCall) {
  config::PoolConfig pool = MakePool("echo", "echo", 2);
  pool.recycle.after_calls = 5;
  pool.recycle.jitter_percent = 0;
  auto s = Start({pool});
  ASSERT_TRUE(s);
  for (int i = 0; i < 60; ++i) {
    auto out = s->pool("echo")->Call("echo", "x", Deadline::After(10s));
    ASSERT_TRUE(out) << i << ": " << out.error().ToString();
  }
  PoolStatus status = StatusOf(*s, "echo");
  std::uint64_t generations = 0;
  for (const auto& w : status.workers) generations += w.generation;
  EXPECT_GE(generations, 60u / 5);
  EXPECT_EQ(status.restarts, 0u);
  EXPECT_TRUE(status.failures.empty());
}

TEST(SupervisorTest, AWorkerOverMaxRssIsReplacedBetweenCalls) {
  config::PoolConfig pool = MakePool("echo", "echo");
  pool.recycle.max_rss = 1;  // every worker is over it after its first call
  auto s = Start({pool});
  ASSERT_TRUE(s);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(s->WaitReady("echo", Soon()));
    auto out = s->pool("echo")->Call("echo", "x");
    ASSERT_TRUE(out) << i << ": " << out.error().ToString();
  }
  ASSERT_TRUE(s->WaitReady("echo", Soon()));
  PoolStatus status = StatusOf(*s, "echo");
  EXPECT_EQ(status.workers.at(0).generation, 11u);
  EXPECT_EQ(status.restarts, 0u);
  EXPECT_TRUE(status.failures.empty());
}

TEST(SupervisorTest, ManyCallerThreadsShareTheWorkers) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  std::atomic<int> ok{0};
  {
    std::vector<std::jthread> callers;
    for (int t = 0; t < 8; ++t) {
      callers.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          const std::string in = std::to_string(t) + ":" + std::to_string(i);
          auto out = s->pool("echo")->Call("echo", in);
          ok += out && *out == in;
        }
      });
    }
  }
  EXPECT_EQ(ok.load(), 8 * 200);
}

TEST(SupervisorTest, OverloadedWhenTheQueueIsFull) {
  config::PoolConfig pool = MakePool("m", "misbehave");
  pool.max_queue = 0;
  auto s = Start({pool});
  ASSERT_TRUE(s);
  std::jthread caller([&] { (void)s->pool("m")->Call("hang_futex", "", Deadline::After(2s)); });
  ASSERT_TRUE(Eventually([&] { return StatusOf(*s, "m").workers.at(0).state == WorkerState::kBusy; }));
  auto out = s->pool("m")->Call("echo", "");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kOverloaded);
}

TEST(SupervisorTest, AWarmSpareTakesNoCallButReplacesAKilledWorkerAtOnce) {
  config::PoolConfig pool = MakePool("m", "misbehave", 1);
  pool.spare_workers = 1;
  pool.max_queue = 0;
  auto s = Start({pool});
  ASSERT_TRUE(s);
  ASSERT_EQ(StatusOf(*s, "m").workers.size(), 2u);
  {
    std::jthread caller([&] { (void)s->pool("m")->Call("hang_futex", "", Deadline::After(300ms)); });
    ASSERT_TRUE(Eventually([&] {
      auto w = StatusOf(*s, "m").workers;
      return w.at(0).state == WorkerState::kBusy || w.at(1).state == WorkerState::kBusy;
    }));
    // One call at a time: the spare is READY but not for callers.
    auto refused = s->pool("m")->Call("echo", "");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kOverloaded);
  }
  // The hung call was killed at its deadline; the spare serves the next call
  // without waiting for a successor to start.
  auto out = s->pool("m")->Call("echo", "spare", Deadline::After(5s));
  ASSERT_TRUE(out) << out.error().ToString();
  ASSERT_TRUE(s->WaitReady("m", Soon()));
  EXPECT_EQ(StatusOf(*s, "m").workers.size(), 2u);
}

TEST(SupervisorTest, CallersReleasedByAStopLeaveTheQueueEmpty) {
  config::PoolConfig pool = MakePool("m", "misbehave");
  pool.max_queue = 1;
  pool.stop_timeout = 100ms;
  auto s = Start({pool});
  ASSERT_TRUE(s);
  for (int round = 0; round < 3; ++round) {
    std::jthread hung([&] { (void)s->pool("m")->Call("hang_futex", "", Deadline::After(20s)); });
    ASSERT_TRUE(Eventually([&] { return StatusOf(*s, "m").workers.at(0).state == WorkerState::kBusy; }));
    std::jthread waiter([&] {
      auto out = s->pool("m")->Call("echo", "", Deadline::After(20s));
      EXPECT_FALSE(out);
      if (!out) {
        EXPECT_EQ(out.error().code(), ErrorCode::kPoolStopped) << out.error().ToString();
      }
    });
    ASSERT_TRUE(Eventually([&] { return StatusOf(*s, "m").waiting_callers == 1; }));
    ASSERT_TRUE(s->Stop("m", Soon()));
    waiter.join();
    hung.join();
    EXPECT_EQ(StatusOf(*s, "m").waiting_callers, 0u);
    ASSERT_TRUE(s->Start("m"));
    ASSERT_TRUE(s->WaitReady("m", Soon()));
  }
  // The queue still takes a caller: one waits for the busy worker, and gets it.
  std::jthread busy([&] { (void)s->pool("m")->Call("hang_futex", "", Deadline::After(300ms)); });
  ASSERT_TRUE(Eventually([&] { return StatusOf(*s, "m").workers.at(0).state == WorkerState::kBusy; }));
  auto out = s->pool("m")->Call("echo", "waited", Deadline::After(20s));
  ASSERT_TRUE(out) << out.error().ToString();
}

TEST(SupervisorTest, ResizeGrowsAndShrinksInPlace) {
  auto s = Start({MakePool("echo", "echo", 1)});
  ASSERT_TRUE(s);
  const pid_t first = StatusOf(*s, "echo").workers.at(0).pid;
  ASSERT_TRUE(s->Resize("echo", 3));
  ASSERT_TRUE(s->WaitReady("echo", Soon()));
  EXPECT_EQ(StatusOf(*s, "echo").workers.size(), 3u);
  ASSERT_TRUE(s->Resize("echo", 1));
  ASSERT_TRUE(Eventually([&] { return StatusOf(*s, "echo").workers.size() == 1; }));
  EXPECT_EQ(StatusOf(*s, "echo").workers.at(0).pid, first);
  EXPECT_TRUE(s->pool("echo")->Call("echo", "x"));
}

TEST(SupervisorTest, RestartReplacesEveryWorkerWhileThePoolServes) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  std::vector<pid_t> before;
  for (const auto& w : StatusOf(*s, "echo").workers) before.push_back(w.pid);
  ASSERT_TRUE(s->Restart("echo"));
  auto replaced = [&] {
    PoolStatus status = StatusOf(*s, "echo");
    if (status.workers.size() != 2) return false;
    for (const auto& w : status.workers) {
      if (w.state != WorkerState::kReady || std::find(before.begin(), before.end(), w.pid) != before.end()) {
        return false;
      }
    }
    return true;
  };
  int served = 0;
  while (!replaced()) {
    ASSERT_FALSE(Soon().Expired());
    auto out = s->pool("echo")->Call("echo", "during");  // one worker always serves
    ASSERT_TRUE(out) << out.error().ToString();
    ++served;
  }
  EXPECT_GT(served, 0);
  EXPECT_EQ(StatusOf(*s, "echo").restarts, 0u);
  EXPECT_TRUE(s->Restart("nope").error().code() == ErrorCode::kInvalidArgument);
}

TEST(SupervisorTest, ApplyAddsRemovesAndRestartsOnlyWhatChanged) {
  auto s = Start({MakePool("a", "echo"), MakePool("b", "echo")});
  ASSERT_TRUE(s);
  const pid_t a_pid = StatusOf(*s, "a").workers.at(0).pid;
  const UniqueFd a_pidfd = WatchWorker(a_pid);
  const pid_t b_pid = StatusOf(*s, "b").workers.at(0).pid;
  config::Config next;
  next.pools["a"] = MakePool("a", "echo", 2);  // resized: the first worker stays
  config::PoolConfig b = MakePool("b", "echo");
  b.env["CHANGED"] = "1";                      // needs new workers
  next.pools["b"] = b;
  next.pools["c"] = MakePool("c", "echo");     // added; nothing named "removed"
  ASSERT_TRUE(s->Apply(next));
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(s->WaitReady(name, Soon())) << name;
  EXPECT_EQ(StatusOf(*s, "a").workers.at(0).pid, a_pid);
  EXPECT_TRUE(Eventually([&] { return StatusOf(*s, "b").workers.at(0).pid != b_pid; }));
  EXPECT_TRUE(s->pool("c")->Call("echo", "new"));
  config::Config fewer;
  fewer.pools["c"] = MakePool("c", "echo");
  ASSERT_TRUE(s->Apply(fewer));
  EXPECT_TRUE(testing::Exited(a_pidfd.get(), Now())) << "worker " << a_pid << " survived";  // Apply waited for it
  EXPECT_EQ(s->pool("b"), nullptr);
  EXPECT_EQ(s->Snapshot().size(), 1u);
  // Added back: a fresh start.
  ASSERT_TRUE(s->Apply(next));
  ASSERT_TRUE(s->WaitReady("a", Soon()));
  EXPECT_TRUE(s->pool("a")->Call("echo", "back"));
}

TEST(SupervisorTest, ThousandKillsLeaveNoZombieAndNoDescriptor) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->pool("m")->Call("echo", ""));
  const std::size_t fds = OpenFds();
  constexpr int kCycles = testing::kAddressSanitizer ? 200 : 1000;
  for (int i = 0; i < kCycles; ++i) {
    ASSERT_TRUE(s->WaitReady("m", Soon())) << i;
    auto out = s->pool("m")->Call("hang_futex", "", Deadline::After(1ms));
    ASSERT_FALSE(out);
  }
  ASSERT_TRUE(s->WaitReady("m", Soon()));
  EXPECT_TRUE(Eventually([&] { return OpenFds() == fds; })) << OpenFds() << " open, " << fds << " before";
  // Every worker but the live one is reaped: waitpid finds no other child.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), 0);
  EXPECT_EQ(StatusOf(*s, "m").kills, static_cast<std::uint64_t>(kCycles));
}

// What a worker sees of its sandbox, without the parts that differ between
// any two workers (its TMPDIR's path).
std::string SandboxOf(Supervisor& s, const std::string& pool) {
  auto out = s.pool(pool)->Call("sandbox", "");
  EXPECT_TRUE(out) << out.error().ToString();
  if (!out) return "";
  std::string text = *out;
  const auto start = text.find(" tmpdir=");
  const auto end = text.find(' ', start + 1);
  EXPECT_NE(text.find("tmpdir=" + std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp")), std::string::npos)
      << text;
  return text.erase(start, end - start);
}

TEST(SupervisorTest, AWorkerForkedFromTheZygoteHasTheSandboxOfAnExecdOne) {
  config::PoolConfig pool = MakePool("m", "misbehave");
  pool.limits.open_files = 77;
  // ASan's shadow memory fits under no address-space limit.
  if (!testing::kAddressSanitizer) pool.limits.address_space = std::uint64_t{3} << 30;
  auto forked = Start({pool});
  ASSERT_TRUE(forked);
  PoolStatus status = StatusOf(*forked, "m");
  EXPECT_EQ(status.spawner, "zygote");
  EXPECT_GT(status.zygote_pid, 0);
  auto execd = Start({pool}, /*use_zygote=*/false);
  ASSERT_TRUE(execd);
  EXPECT_EQ(StatusOf(*execd, "m").spawner, "exec");
  std::string sandbox = SandboxOf(*forked, "m");
  EXPECT_NE(sandbox.find("nofile=77"), std::string::npos) << sandbox;
  EXPECT_NE(sandbox.find("pgid_is_pid=1"), std::string::npos) << sandbox;
  std::string execd_sandbox = SandboxOf(*execd, "m");
  // Descriptors: as many as an exec'd worker's (stdio, the channel, the
  // plugin's own), give or take the one stop/ opens lazily when a wait sleeps
  // (timing decides whether it has yet); so no zygote socket left over.
  // (Sockets are marked "s".)
  auto count = [](const std::string& text, bool sockets) {
    std::istringstream fds(text.substr(text.find(" fds=") + 5));
    int n = 0;
    for (std::string fd; fds >> fd;) n += !sockets || fd.ends_with('s');
    return n;
  };
  EXPECT_LE(std::abs(count(sandbox, false) - count(execd_sandbox, false)), 1) << sandbox << "\n" << execd_sandbox;
  EXPECT_EQ(count(sandbox, true), count(execd_sandbox, true)) << sandbox << "\n" << execd_sandbox;
  sandbox.erase(sandbox.find(" fds="));
  execd_sandbox.erase(execd_sandbox.find(" fds="));
  EXPECT_EQ(sandbox, execd_sandbox);
}

TEST(SupervisorTest, AForkedWorkerKeepsWhatThePluginOpenedAsItLoaded) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  ASSERT_EQ(StatusOf(*s, "m").spawner, "zygote");
  auto out = s->pool("m")->Call("load_time_fd", "");
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, "ok");
}

TEST(SupervisorTest, AZygoteThatDiesIsReplacedByExec) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  const pid_t zygote = StatusOf(*s, "m").zygote_pid;
  ASSERT_GT(zygote, 0);
  ASSERT_EQ(kill(zygote, SIGKILL), 0);
  auto crash = s->pool("m")->Call("segfault", "");
  ASSERT_FALSE(crash);
  ASSERT_TRUE(s->WaitReady("m", Soon()));
  auto out = s->pool("m")->Call("echo", "after");
  ASSERT_TRUE(out) << out.error().ToString();
  PoolStatus status = StatusOf(*s, "m");
  EXPECT_EQ(status.zygote_pid, 0);
  EXPECT_NE(status.spawner.find("exec (the zygote failed"), std::string::npos) << status.spawner;
  // A restart brings the zygote back.
  ASSERT_TRUE(s->Restart("m"));
  EXPECT_TRUE(Eventually([&] { return StatusOf(*s, "m").spawner == "zygote"; }));
}

TEST(SupervisorTest, APluginWithThreadsAtLoadIsExecdNotForked) {
  auto s = Start({MakePool("t", "threads_at_load")});
  ASSERT_TRUE(s);
  PoolStatus status = StatusOf(*s, "t");
  EXPECT_NE(status.spawner.find("threads once loaded"), std::string::npos) << status.spawner;
  auto out = s->pool("t")->Call("echo", "works");
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, "works");
}

TEST(SupervisorTest, APluginThatCannotLoadIsAConfigErrorAtItsLine) {
  const std::string yaml = "pools:\n  bad:\n    plugin: " + testing::PluginPath("bad_abi") + "\n";
  auto config = config::LoadString(yaml, "pools.yaml", "/");
  ASSERT_TRUE(config) << config.error().ToString();  // the file exists: only loading it tells
  auto s = Supervisor::Create(*config, {.worker_path = testing::WorkerPath()});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kBadConfig);
  EXPECT_NE(s.error().message().find("pools.yaml:3:13: pools.bad.plugin: "), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("plugin ABI"), std::string::npos) << s.error().message();
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // the probe is gone too
}

TEST(SupervisorTest, ProbeAcceptsALoadablePluginEvenIfItCannotBeForked) {
  EXPECT_EQ(ProbePlugin(MakePool("e", "echo"), testing::WorkerPath()), std::nullopt);
  EXPECT_EQ(ProbePlugin(MakePool("t", "threads_at_load"), testing::WorkerPath()), std::nullopt);
  auto refused = ProbePlugin(MakePool("b", "bad_abi"), testing::WorkerPath());
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->find("plugin ABI"), std::string::npos) << *refused;
}

TEST(SupervisorTest, CallDurationsCountEveryAnsweredCallInItsBucket) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->pool("m")->Call("echo", "x"));
  ASSERT_FALSE(s->pool("m")->Call("hang_futex", "", Deadline::After(300ms)));
  const CallDurations d = StatusOf(*s, "m").durations;
  std::uint64_t total = 0, slow = 0;
  for (std::size_t i = 0; i < d.counts.size(); ++i) {
    total += d.counts[i];
    // The hung call: past 250 ms, within 500 ms (or later on a loaded machine).
    if (kCallDurationBounds[i] > 0.25) slow += d.counts[i];
  }
  EXPECT_EQ(total, 21u);
  EXPECT_EQ(slow, 1u);
  EXPECT_GE(d.sum_seconds, 0.3);
  EXPECT_EQ(kCallDurationBounds.back(), std::numeric_limits<double>::infinity());
}

TEST(SupervisorTest, SnapshotReadsRssOnlyWhenAsked) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  for (const auto& w : StatusOf(*s, "echo").workers) EXPECT_GT(w.rss_bytes, 0u);
  for (const auto& pool : s->Snapshot({.rss = false})) {
    for (const auto& w : pool.workers) EXPECT_EQ(w.rss_bytes, 0u);
  }
}

TEST(SupervisorTest, AStoppedSlotStaysDownUntilStartedAndTheOthersServe) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  const WorkerStatus before = StatusOf(*s, "echo").workers.at(1);
  const UniqueFd before_pidfd = WatchWorker(before.pid);
  auto report = s->StopWorker("echo", 1, Soon());
  ASSERT_TRUE(report) << report.error().ToString();
  ASSERT_EQ(report->workers.size(), 1u);
  EXPECT_EQ(report->workers[0].slot, 1u);
  EXPECT_EQ(report->workers[0].pid, before.pid);
  EXPECT_EQ(report->workers[0].outcome, StopReport::Outcome::kGraceful);
  EXPECT_TRUE(testing::Exited(before_pidfd.get(), Soon())) << "worker " << before.pid << " survived";
  // Held: ready without it, calls served by the other, nothing restarts it.
  ASSERT_TRUE(s->WaitReady("echo", Soon()));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->pool("echo")->Call("echo", "x"));
  WorkerStatus held = StatusOf(*s, "echo").workers.at(1);
  EXPECT_EQ(held.state, WorkerState::kStopped);
  EXPECT_EQ(held.pid, 0);
  EXPECT_EQ(held.generation, before.generation);
  EXPECT_EQ(StatusOf(*s, "echo").restarts, 0u);
  // Stopping it again reports nothing to stop.
  auto again = s->StopWorker("echo", 1, Soon());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->workers.at(0).outcome, StopReport::Outcome::kAlreadyDead);
  ASSERT_TRUE(s->StartWorker("echo", 1, Soon()));
  const WorkerStatus after = StatusOf(*s, "echo").workers.at(1);
  EXPECT_EQ(after.state, WorkerState::kReady);
  EXPECT_EQ(after.generation, before.generation + 1);
}

TEST(SupervisorTest, RestartWorkerReplacesOnlyItsSlot) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  const PoolStatus before = StatusOf(*s, "echo");
  const UniqueFd replaced_pidfd = WatchWorker(before.workers.at(1).pid);
  ASSERT_TRUE(s->RestartWorker("echo", 1, Soon()));
  const PoolStatus after = StatusOf(*s, "echo");
  EXPECT_EQ(after.workers.at(0).pid, before.workers.at(0).pid);
  EXPECT_NE(after.workers.at(1).pid, before.workers.at(1).pid);
  EXPECT_EQ(after.workers.at(1).state, WorkerState::kReady);
  EXPECT_EQ(after.restarts, 0u);
  EXPECT_TRUE(testing::Exited(replaced_pidfd.get(), Soon())) << "worker " << before.workers.at(1).pid << " survived";
}

TEST(SupervisorTest, AnUnknownSlotIsInvalidArgumentNamingThePoolsSlots) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  auto stopped = s->StopWorker("echo", 7, Soon());
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(stopped.error().message().find("slots: 0-1"), std::string::npos) << stopped.error().message();
  EXPECT_EQ(s->StartWorker("echo", 2).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s->RestartWorker("nope", 0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s->Signal("echo", 9, SIGCONT).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s->Signal("echo", std::nullopt, 0).error().code(), ErrorCode::kInvalidArgument);
}

TEST(SupervisorTest, SignalReachesTheWorkersAndNotTheZygote) {
  auto s = Start({MakePool("echo", "echo", 2)});
  ASSERT_TRUE(s);
  const PoolStatus before = StatusOf(*s, "echo");
  const UniqueFd killed_pidfd = WatchWorker(before.workers.at(0).pid);
  auto all = s->Signal("echo", std::nullopt, SIGCONT);
  ASSERT_TRUE(all) << all.error().ToString();
  EXPECT_EQ(*all, (std::vector<SignalledWorker>{{0, before.workers[0].pid}, {1, before.workers[1].pid}}));
  auto one = s->Signal("echo", 0, SIGKILL);
  ASSERT_TRUE(one);
  EXPECT_EQ(*one, (std::vector<SignalledWorker>{{0, before.workers[0].pid}}));
  EXPECT_TRUE(testing::Exited(killed_pidfd.get(), Soon())) << "worker " << before.workers[0].pid << " survived";
  ASSERT_TRUE(s->WaitReady("echo", Soon()));
  const PoolStatus after = StatusOf(*s, "echo");
  EXPECT_EQ(after.workers.at(1).pid, before.workers.at(1).pid);
  EXPECT_EQ(after.zygote_pid, before.zygote_pid);
}

TEST(SupervisorTest, RestartWithAWaitReturnsOnceEveryWorkerIsReplacedAndLeavesAHeldSlotDown) {
  auto s = Start({MakePool("echo", "echo", 3)});
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->StopWorker("echo", 2, Soon()));
  const PoolStatus before = StatusOf(*s, "echo");
  Status restarted = s->Restart("echo", Soon());
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  const PoolStatus after = StatusOf(*s, "echo");
  for (int i : {0, 1}) {
    EXPECT_NE(after.workers.at(i).pid, before.workers.at(i).pid);
    EXPECT_EQ(after.workers.at(i).state, WorkerState::kReady);
  }
  EXPECT_EQ(after.workers.at(2).state, WorkerState::kStopped);
  Status late = s->Restart("echo", Deadline::After(0ms));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kDeadlineExceeded) << late.error().ToString();
  ASSERT_TRUE(s->Restart("echo", Soon()));  // the one that timed out goes on meanwhile
}

TEST(SupervisorTest, ShrinkingPastAHeldSlotRemovesItAndGrowingLeavesItHeld) {
  auto s = Start({MakePool("echo", "echo", 3)});
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->StopWorker("echo", 1, Soon()));
  ASSERT_TRUE(s->Resize("echo", 4));
  ASSERT_TRUE(s->WaitReady("echo", Soon()));
  PoolStatus grown = StatusOf(*s, "echo");
  ASSERT_EQ(grown.workers.size(), 4u);
  EXPECT_EQ(grown.workers.at(1).state, WorkerState::kStopped);
  ASSERT_TRUE(s->Resize("echo", 1));
  ASSERT_TRUE(Eventually([&] { return StatusOf(*s, "echo").workers.size() == 1u; }));
  EXPECT_EQ(s->StartWorker("echo", 1).error().code(), ErrorCode::kInvalidArgument);
}

TEST(SupervisorTest, AWorkerFloodingStdoutFinishesItsCallAndTheLogKeepsTheNewestLines) {
  auto s = Start({MakePool("m", "misbehave")});
  ASSERT_TRUE(s);
  auto flooded = s->pool("m")->Call("flood_stdout", "16");  // 16 MiB of 1 KiB lines
  ASSERT_TRUE(flooded) << flooded.error().ToString();
  ASSERT_TRUE(s->pool("m")->Call("echo", "still serving"));
  // The pipe may still hold the tail of the flood: wait for its last line.
  constexpr std::uint64_t kLines = 16 * 1024;
  std::uint64_t seen = 0;
  while (seen < kLines) {
    auto read = s->ReadLog("m", LogStream::kStdout, {.after = seen, .limit = 1}, Soon());
    ASSERT_TRUE(read);
    ASSERT_GT(read->next, seen) << "no line within the deadline";
    seen = read->next;
  }
  const PoolStatus status = StatusOf(*s, "m");
  EXPECT_EQ(status.stdout_log.lines, kLines);
  EXPECT_GT(status.stdout_log.dropped, 0u);
  EXPECT_LE(status.stdout_log.bytes, LogBufferOptions{}.max_bytes);
  auto tail = s->ReadLog("m", LogStream::kStdout, {.tail = 3});
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->lines.size(), 3u);
  EXPECT_EQ(tail->lines.back().seq, kLines);
  EXPECT_EQ(tail->lines.back().text, std::string(1023, 'x'));
  auto early = s->ReadLog("m", LogStream::kStdout, {.after = 0, .limit = 1});
  ASSERT_TRUE(early);
  EXPECT_EQ(early->dropped + 1, early->lines.at(0).seq);
}

TEST(SupervisorTest, APluginsStderrLineShowsInTheStderrLogAndTheSink) {
  std::mutex mu;
  std::vector<std::string> forwarded;
  config::Config config;
  config.pools["m"] = MakePool("m", "misbehave");
  auto created = Supervisor::Create(config, {.worker_path = testing::WorkerPath(),
                                             .output_sink = [&](std::string_view pool, LogStream stream,
                                                                std::string_view line) {
                                               std::lock_guard lock(mu);
                                               forwarded.push_back(std::string(pool) + " " +
                                                                   std::string(LogStreamName(stream)) + " " +
                                                                   std::string(line));
                                             }});
  ASSERT_TRUE(created) << created.error().ToString();
  Supervisor& s = **created;
  ASSERT_TRUE(s.WaitReady("m", Soon()));
  ASSERT_TRUE(s.pool("m")->Call("print_stderr", "a complaint"));
  auto read = s.ReadLog("m", LogStream::kStderr, {.after = 0}, Soon());
  ASSERT_TRUE(read);
  ASSERT_EQ(read->lines.size(), 1u);
  EXPECT_EQ(read->lines[0].text, "a complaint");
  EXPECT_EQ(read->next, read->lines[0].seq);
  EXPECT_TRUE(s.ReadLog("m", LogStream::kStdout, {}).value().lines.empty());
  EXPECT_EQ(s.ReadLog("nope", LogStream::kStdout, {}).error().code(), ErrorCode::kInvalidArgument);
  created->reset();  // the log thread is joined: the sink has had every line
  EXPECT_EQ(forwarded, (std::vector<std::string>{"m stderr a complaint"}));
}

TEST(SupervisorTest, TheSinkGetsAtMostItsRateAndANoticeOfTheRest) {
  std::mutex mu;
  std::condition_variable noticed;
  std::vector<std::string> forwarded;
  config::Config config;
  config.pools["m"] = MakePool("m", "misbehave");
  auto created = Supervisor::Create(config, {.worker_path = testing::WorkerPath(),
                                             .output_sink = [&](std::string_view, LogStream, std::string_view line) {
                                               std::lock_guard lock(mu);
                                               forwarded.emplace_back(line);
                                               noticed.notify_all();
                                             },
                                             .output_sink_lines_per_second = 10});
  ASSERT_TRUE(created) << created.error().ToString();
  Supervisor& s = **created;
  ASSERT_TRUE(s.WaitReady("m", Soon()));
  ASSERT_TRUE(s.pool("m")->Call("flood_stdout", "1"));  // 1024 lines
  std::unique_lock lock(mu);
  // The notice comes once the second is over, without another line to carry it.
  ASSERT_TRUE(noticed.wait_until(lock, Soon().when(), [&] {
    return !forwarded.empty() && forwarded.back().ends_with("lines dropped]");
  }));
  std::uint64_t dropped = 0;
  std::size_t lines = 0;
  for (const auto& line : forwarded) {
    if (line.starts_with("[")) dropped += std::stoull(line.substr(1));
    else ++lines;
  }
  EXPECT_EQ(lines + dropped, 1024u);
  EXPECT_LE(lines, 30u);  // ten a second; the flood may straddle a window or two
}

TEST(SupervisorTest, DestroyingTheSupervisorLeavesNoWorker) {
  pid_t pid = 0;
  UniqueFd pidfd;
  {
    auto s = Start({MakePool("echo", "echo", 2)});
    ASSERT_TRUE(s);
    pid = StatusOf(*s, "echo").workers.at(0).pid;
    pidfd = WatchWorker(pid);
  }
  EXPECT_TRUE(testing::Exited(pidfd.get(), Now())) << "worker " << pid << " survived";
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // no child at all
}

}  // namespace
}  // namespace sv::supervisor
