// sv-worker running plugins that misbehave: each test starts a real worker,
// makes it misbehave, and checks the typed outcome on the trusted side and
// that the trusted side stays usable (a fresh worker answers).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/helpers/worker_process.h"
#include "tests/helpers/worker_testing.h"

namespace sv::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<WorkerProcess> StartMisbehaving(SpawnOptions options = DefaultSpawnOptions("misbehave")) {
  return StartForTest(std::move(options));
}

// The trusted side is still usable: a new worker starts and answers.
void ExpectFreshWorkerAnswers() {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("echo", "still here", Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, "still here");
}

// Calls `method`, expects `code`, then kills and reaps the worker.
ExitInfo CallExpectingThenKill(WorkerProcess& w, const std::string& method, ErrorCode code,
                               const std::string& input = "") {
  auto out = w.channel().Call(method, input, Deadline::After(milliseconds(300)));
  EXPECT_FALSE(out);
  if (!out) {
    EXPECT_EQ(out.error().code(), code) << out.error().ToString();
  }
  EXPECT_TRUE(w.Signal(SIGKILL));
  auto exit = w.Wait(Soon());
  EXPECT_TRUE(exit) << exit.error().ToString();
  return exit ? *exit : ExitInfo{};
}

// Waits for the worker's own death (no kill) and returns how it ended.
ExitInfo CallExpectingDeath(WorkerProcess& w, const std::string& method, const std::string& input = "") {
  auto out = w.channel().Call(method, input, Soon());
  EXPECT_FALSE(out);
  if (!out) {
    EXPECT_EQ(out.error().code(), ErrorCode::kWorkerCrashed) << out.error().ToString();
  }
  auto exit = w.Wait(Soon());
  EXPECT_TRUE(exit) << exit.error().ToString();
  return exit ? *exit : ExitInfo{};
}

TEST(MisbehaveTest, HangInFutexCostsTheCallerItsDeadline) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  ExitInfo exit = CallExpectingThenKill(*w, "hang_futex", ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(exit.signaled);
  EXPECT_EQ(exit.code, SIGKILL);
  auto again = w->channel().Call("echo", "x", Soon());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kClosed);
  ExpectFreshWorkerAnswers();
}

TEST(MisbehaveTest, SpinWithSignalsBlockedIsStillKilled) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("spin_signals_blocked", "", Deadline::After(milliseconds(300)));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kDeadlineExceeded);
  // SIGTERM is blocked: the worker does not stop gracefully...
  ASSERT_TRUE(w->Signal(SIGTERM));
  auto still = w->Wait(Deadline::After(milliseconds(200)));
  ASSERT_FALSE(still);
  EXPECT_EQ(still.error().code(), ErrorCode::kDeadlineExceeded);
  // ...but SIGKILL cannot be blocked.
  ASSERT_TRUE(w->Signal(SIGKILL));
  auto exit = w->Wait(Soon());
  ASSERT_TRUE(exit) << exit.error().ToString();
  EXPECT_TRUE(exit->signaled);
  EXPECT_EQ(exit->code, SIGKILL);
  ExpectFreshWorkerAnswers();
}

TEST(MisbehaveTest, SegfaultIsReportedAsWorkerCrashed) {
  // Under AddressSanitizer the worker would report the fault and exit 1.
  setenv("ASAN_OPTIONS", "handle_segv=0", 1);
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  ExitInfo exit = CallExpectingDeath(*w, "segfault");
  EXPECT_TRUE(exit.signaled);
  EXPECT_EQ(exit.code, SIGSEGV);
  ExpectFreshWorkerAnswers();
}

TEST(MisbehaveTest, AbortIsReportedAsWorkerCrashed) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  ExitInfo exit = CallExpectingDeath(*w, "abort");
  EXPECT_TRUE(exit.signaled);
  EXPECT_EQ(exit.code, SIGABRT);
  ExpectFreshWorkerAnswers();
}

TEST(MisbehaveTest, ExitInTheMiddleOfACallIsReportedAsWorkerCrashed) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  ExitInfo exit = CallExpectingDeath(*w, "exit", "3");
  EXPECT_FALSE(exit.signaled);
  EXPECT_EQ(exit.code, 3);
  ExpectFreshWorkerAnswers();
}

TEST(MisbehaveTest, AllocatingUntilTheLimitIsAResourceLimitAndTheWorkerRecovers) {
  if (kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer's shadow memory exceeds any address-space limit";
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.worker.limits.address_space = 512ull << 20;
  auto w = StartMisbehaving(options);
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("allocate", "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kResourceLimit) << out.error().ToString();
  EXPECT_NE(out.error().message().find("address-space limit"), std::string::npos) << out.error().message();
  // The memory was released when the call unwound: the same worker serves on.
  auto again = w->channel().Call("echo", "recovered", Soon());
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(*again, "recovered");
}

TEST(MisbehaveTest, CpuTimeLimitKillsASpinningWorker) {
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.worker.limits.cpu_seconds = 1;
  auto w = StartMisbehaving(options);
  ASSERT_NE(w, nullptr);
  ExitInfo exit = CallExpectingDeath(*w, "spin");
  EXPECT_TRUE(exit.signaled);
  EXPECT_EQ(exit.code, SIGXCPU) << exit.ToString();
}

TEST(MisbehaveTest, SetsidGrandchildIsOrphanedToTheSubreaperWhenTheWorkerDies) {
  BecomeSubreaper();
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("fork_setsid", "", Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  const pid_t grandchild = std::atoi(out->c_str());
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(w->Signal(SIGKILL));
  ASSERT_TRUE(w->Wait(Soon()));
  // The grandchild left the worker's process group (setsid), so killing the
  // group would miss it; as subreaper we inherit it and can still reap it.
  ASSERT_EQ(kill(grandchild, SIGKILL), 0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(grandchild), &info, WEXITED), 0);
  EXPECT_EQ(info.si_status, SIGKILL);
}

TEST(MisbehaveTest, ResponseLengthOverCapacityIsAProtocolViolation) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("oversized_length", "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kProtocolViolation) << out.error().ToString();
  EXPECT_NE(out.error().message().find("output size"), std::string::npos) << out.error().message();
  auto again = w->channel().Call("echo", "x", Soon());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kClosed);
  ExpectFreshWorkerAnswers();
}

TEST(MisbehaveTest, WrongCallIdIsAProtocolViolation) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("wrong_call_id", "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kProtocolViolation) << out.error().ToString();
  EXPECT_NE(out.error().message().find("call id"), std::string::npos) << out.error().message();
  ExpectFreshWorkerAnswers();
}

TEST(MisbehaveTest, CannotWriteOrResizeTheSealedRegions) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("tamper", "", Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  for (const char* attempt : {"ftruncate_request=", "ftruncate_response=", "mmap_write_request=",
                              "mprotect_write_request=", "pwrite_request=", "reopen_write_request="}) {
    std::size_t at = out->find(attempt);
    ASSERT_NE(at, std::string::npos) << *out;
    EXPECT_NE(out->substr(at + std::strlen(attempt), 2), "OK") << attempt << " succeeded: " << *out;
  }
  // The channel is intact.
  auto again = w->channel().Call("echo", "intact", Soon());
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(*again, "intact");
}

// The caller does not spin, so it sleeps on the futex the worker keeps waking.
SpawnOptions SleepingCaller() {
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.channel.spin.budget = std::chrono::nanoseconds(0);
  return options;
}

TEST(MisbehaveTest, SpuriousWakeupsDoNotEndTheCallEarly) {
  auto w = StartMisbehaving(SleepingCaller());
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("wake_loop", "20000", Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, "woke");
}

TEST(MisbehaveTest, EndlessWakeupsStillEndAtTheDeadline) {
  auto w = StartMisbehaving(SleepingCaller());
  ASSERT_NE(w, nullptr);
  ExitInfo exit = CallExpectingThenKill(*w, "wake_loop", ErrorCode::kDeadlineExceeded, "-1");
  EXPECT_EQ(exit.code, SIGKILL);
}

TEST(MisbehaveTest, ADoorbellThatNeverStopsChangingStillEndsAtTheDeadline) {
  // Every futex wait fails at once with EAGAIN: only our own clock ends it.
  auto w = StartMisbehaving(SleepingCaller());
  ASSERT_NE(w, nullptr);
  ExitInfo exit = CallExpectingThenKill(*w, "bump_doorbell", ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(exit.code, SIGKILL);
}

TEST(MisbehaveTest, FloodingStdoutIntoAReaderDoesNotDisturbTheCall) {
  char path[] = "/tmp/sv-flood-XXXXXX";
  UniqueFd file(mkstemp(path));
  ASSERT_TRUE(file);
  unlink(path);
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.stdout_fd = file.get();
  auto w = StartMisbehaving(options);
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("flood_stdout", "8", Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(lseek(file.get(), 0, SEEK_END), 8 << 20);
}

TEST(MisbehaveTest, FloodingAStdoutNobodyReadsCostsTheDeadline) {
  Pipe pipe = Pipe::Create();
  ASSERT_TRUE(pipe.write_end);
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.stdout_fd = pipe.write_end.get();
  auto w = StartMisbehaving(options);
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("flood_stdout", "8", Deadline::After(milliseconds(300)));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kDeadlineExceeded);
  ASSERT_TRUE(w->Signal(SIGKILL));
  auto exit = w->Wait(Soon());
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, SIGKILL);
}

TEST(MisbehaveTest, PluginErrorsCarryCodeAndMessage) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("fail", "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPluginError);
  EXPECT_EQ(out.error().plugin_code(), 42);
  EXPECT_NE(out.error().message().find("failed?on purpose"), std::string::npos) << out.error().message();
  auto thrown = w->channel().Call("throw", "", Soon());
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code(), ErrorCode::kPluginError);
  EXPECT_NE(thrown.error().message().find("thrown on purpose"), std::string::npos);
  auto missing = w->channel().Call("no_such_method", "", Soon());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().plugin_code(), -1);
  auto ok = w->channel().Call("echo", "after errors", Soon());
  ASSERT_TRUE(ok) << ok.error().ToString();
}

TEST(MisbehaveTest, OutputOverCapacityIsPayloadTooLarge) {
  auto w = StartMisbehaving();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("too_large", "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPayloadTooLarge) << out.error().ToString();
  auto ok = w->channel().Call("echo", "fine", Soon());
  ASSERT_TRUE(ok) << ok.error().ToString();
}

}  // namespace
}  // namespace sv::testing
