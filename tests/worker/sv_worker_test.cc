// sv-worker's start-up and shutdown: the sandbox it builds before loading the
// plugin, its refusals, and its exit codes. Real worker processes.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <string>

#include "tests/helpers/worker_process.h"
#include "tests/helpers/worker_testing.h"

namespace sv::testing {
namespace {

// Spawns a worker expected to fail before ready; returns its exit.
ExitInfo ExpectStartFailure(SpawnOptions options, ErrorCode code) {
  auto w = WorkerProcess::Spawn(std::move(options));
  EXPECT_TRUE(w) << w.error().ToString();
  if (!w) return {};
  Status ready = (*w)->channel().WaitReady(Soon());
  EXPECT_FALSE(ready);
  if (!ready) {
    EXPECT_EQ(ready.error().code(), code) << ready.error().ToString();
  }
  auto exit = (*w)->Wait(Soon());
  EXPECT_TRUE(exit) << exit.error().ToString();
  return exit ? *exit : ExitInfo{};
}

TEST(SvWorkerTest, MissingPluginExitsPermanently) {
  SpawnOptions options = DefaultSpawnOptions("echo");
  options.worker.plugin = "/nonexistent/libnothing.so";
  ExitInfo exit = ExpectStartFailure(options, ErrorCode::kPluginError);
  EXPECT_FALSE(exit.signaled);
  EXPECT_EQ(exit.code, 100);
}

TEST(SvWorkerTest, AbiMismatchExitsPermanently) {
  ExitInfo exit = ExpectStartFailure(DefaultSpawnOptions("bad_abi"), ErrorCode::kPluginError);
  EXPECT_EQ(exit.code, 100);
}

TEST(SvWorkerTest, NotAPluginExitsPermanently) {
  SpawnOptions options = DefaultSpawnOptions("echo");
  options.worker.plugin = "libz.so.1";  // a real library without the entry symbol
  ExitInfo exit = ExpectStartFailure(options, ErrorCode::kPluginError);
  EXPECT_EQ(exit.code, 100);
}

TEST(SvWorkerTest, InitFailureReportsThePluginsMessageAndExitCode) {
  SpawnOptions fatal = DefaultSpawnOptions("init_fails");
  auto w = WorkerProcess::Spawn(fatal);
  ASSERT_TRUE(w);
  Status ready = (*w)->channel().WaitReady(Soon());
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().plugin_code(), 77);
  EXPECT_NE(ready.error().message().find("cannot reach the database"), std::string::npos);
  auto exit = (*w)->Wait(Soon());
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 100);

  SpawnOptions retry = DefaultSpawnOptions("init_fails");
  retry.worker.config = {{"mode", "retry"}};
  EXPECT_EQ(ExpectStartFailure(retry, ErrorCode::kPluginError).code, 111);
}

TEST(SvWorkerTest, CppHelperPluginCanAskForARetry) {
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.worker.config = {{"init", "retry"}};
  ExitInfo exit = ExpectStartFailure(options, ErrorCode::kPluginError);
  EXPECT_EQ(exit.code, 111);
}

TEST(SvWorkerTest, BadArgumentsExitPermanently) {
  SpawnOptions options = DefaultSpawnOptions("echo");
  options.worker.config = {{"", "no key"}};
  ExitInfo exit = ExpectStartFailure(options, ErrorCode::kWorkerCrashed);
  EXPECT_EQ(exit.code, 100);
}

TEST(SvWorkerTest, ExitsWhenItsParentIsNotTheOneNamed) {
  SpawnOptions options = DefaultSpawnOptions("echo");
  options.worker.parent = 1;
  ExitInfo exit = ExpectStartFailure(options, ErrorCode::kWorkerCrashed);
  EXPECT_EQ(exit.code, 111);
}

TEST(SvWorkerTest, SigtermStopsGracefully) {
  auto w = WorkerProcess::Start(DefaultSpawnOptions("echo"), Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  ASSERT_TRUE((*w)->Signal(SIGTERM));
  auto exit = (*w)->Wait(Soon());
  ASSERT_TRUE(exit);
  EXPECT_FALSE(exit->signaled);
  EXPECT_EQ(exit->code, 0);
}

TEST(SvWorkerTest, BuildsItsSandboxBeforeLoadingThePlugin) {
  // A descriptor this process leaks without O_CLOEXEC must not reach the plugin.
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  UniqueFd leaked(fcntl(null.get(), F_DUPFD, 50));
  ASSERT_TRUE(leaked);
  const std::string tmpdir = "/tmp/sv-worker-test-" + std::to_string(getpid());
  std::filesystem::remove_all(tmpdir);
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.worker.tmpdir = tmpdir;
  if (!kAddressSanitizer) options.worker.limits.address_space = 1ull << 30;
  options.worker.limits.cpu_seconds = 30;
  options.worker.limits.open_files = 64;
  auto w = WorkerProcess::Start(options, Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  auto out = (*w)->channel().Call("sandbox", "", Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_NE(out->find(kAddressSanitizer ? " cpu=30 nofile=64 core=0 " : "as=1073741824 cpu=30 nofile=64 core=0 "),
            std::string::npos)
      << *out;
  EXPECT_NE(out->find("pgid_is_pid=1"), std::string::npos) << *out;
  EXPECT_NE(out->find("channel_cloexec=11"), std::string::npos) << *out;
  EXPECT_NE(out->find("tmpdir=" + tmpdir + " tmpdir_mode=448"), std::string::npos) << *out;  // 0700
  EXPECT_NE(out->find("fds=0 1 2 3 4 "), std::string::npos) << *out;
  EXPECT_EQ(out->find(" " + std::to_string(leaked.get()) + " "), std::string::npos) << *out;
  std::filesystem::remove_all(tmpdir);
}

TEST(SvWorkerTest, ItsTmpdirIsRemovedAfterItDiesWithoutFollowingLinks) {
  char outside[] = "/tmp/sv-outside-XXXXXX";
  ASSERT_NE(mkdtemp(outside), nullptr);
  const std::string keep = std::string(outside) + "/keep";
  { std::ofstream(keep) << "precious"; }
  const std::string tmpdir = "/tmp/sv-worker-litter-" + std::to_string(getpid());
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.worker.tmpdir = tmpdir;
  auto w = WorkerProcess::Start(options, Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  auto out = (*w)->channel().Call("litter_tmpdir", outside, Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  ASSERT_TRUE(std::filesystem::exists(tmpdir + "/a/b/file"));
  ASSERT_TRUE((*w)->Signal(SIGKILL));
  auto exit = (*w)->Wait(Soon());
  ASSERT_TRUE(exit) << exit.error().ToString();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(tmpdir)));
  EXPECT_TRUE(std::filesystem::exists(keep));
  EXPECT_TRUE(std::filesystem::exists(outside));
  std::filesystem::remove_all(outside);
}

TEST(SvWorkerTest, RefusesATmpdirThatAlreadyExists) {
  char dir[] = "/tmp/sv-planted-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  SpawnOptions options = DefaultSpawnOptions("echo");
  options.worker.tmpdir = dir;
  ExitInfo exit = ExpectStartFailure(options, ErrorCode::kWorkerCrashed);
  EXPECT_EQ(exit.code, 111);
  rmdir(dir);
}

// The system call `pid`'s main thread sleeps in, or -1 while it runs.
long CurrentSyscall(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  std::string first;
  in >> first;
  if (first.empty() || first == "running") return -1;
  return std::strtol(first.c_str(), nullptr, 10);
}

bool WaitUntilBlockedIn(pid_t pid, long nr, Deadline deadline) {
  while (!deadline.Expired()) {
    if (CurrentSyscall(pid) == nr) return true;
    std::this_thread::yield();
  }
  return false;
}

TEST(SvWorkerTest, ResetsTheSignalsItInherits) {
  // A spawner that blocks SIGTERM and ignores SIGRTMIN+3, as event loops
  // built on signalfd do, must not take graceful stop away from its workers.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, nullptr), 0);
  signal(SIGRTMIN + 3, SIG_IGN);
  SpawnOptions options = DefaultSpawnOptions("echo");
  options.reset_signals = false;
  auto w = WorkerProcess::Start(options, Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  ASSERT_TRUE((*w)->channel().Call("echo", "x", Soon()));
  ASSERT_TRUE((*w)->Signal(SIGTERM));
  auto exit = (*w)->Wait(Soon());
  ASSERT_TRUE(exit) << exit.error().ToString();
  EXPECT_EQ(exit->code, 0) << exit->ToString();
}

TEST(SvWorkerTest, PluginMayOwnTheStopLibrarysSignal) {
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.worker.config = {{"steal_signal", "1"}};
  options.worker.spin.budget = std::chrono::nanoseconds(0);  // the worker sleeps between calls
  auto w = WorkerProcess::Start(options, Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  for (int i = 0; i < 3; ++i) {
    auto out = (*w)->channel().Call("echo", "still serving", Soon());
    ASSERT_TRUE(out) << out.error().ToString();
  }
  ASSERT_TRUE((*w)->Signal(SIGTERM));
  auto exit = (*w)->Wait(Soon());
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 0) << exit->ToString();
}

TEST(SvWorkerTest, SigtermDuringACallLetsTheCallFinish) {
  Pipe pipe = Pipe::Create();
  ASSERT_TRUE(pipe.read_end);
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.stdin_fd = pipe.read_end.get();
  auto w = WorkerProcess::Start(options, Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  std::optional<std::expected<std::string, Error>> result;
  std::thread caller([&] { result = (*w)->channel().Call("read_stdin", "", Soon()); });
  ASSERT_TRUE(WaitUntilBlockedIn((*w)->pid(), SYS_read, Soon())) << "the plugin never blocked in read";
  ASSERT_TRUE((*w)->Signal(SIGTERM));
  ASSERT_EQ(write(pipe.write_end.get(), "line\n", 5), 5);
  caller.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(*result) << result->error().ToString();
  EXPECT_EQ(**result, "line");
  auto exit = (*w)->Wait(Soon());
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 0) << exit->ToString();
}

TEST(SvWorkerTest, ALimitTheKernelRefusesExitsPermanently) {
  SpawnOptions options = DefaultSpawnOptions("echo");
  options.worker.limits.open_files = std::uint64_t{1} << 40;  // over fs.nr_open
  ExitInfo exit = ExpectStartFailure(options, ErrorCode::kWorkerCrashed);
  EXPECT_EQ(exit.code, 100);
}

}  // namespace
}  // namespace sv::testing
