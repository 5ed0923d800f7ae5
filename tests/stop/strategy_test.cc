// Process-wide set-up: signal ownership, strategy choice, rseq self-registration,
// and stops that land inside the check-to-syscall window of each strategy.
#include "stop/strategy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/rseq.h>
#include <sys/wait.h>
#include <time.h>

#include <filesystem>

#include "base/unique_fd.h"
#include "stop/calls.h"
#include "stop/internal/testing.h"
#include "tests/stop/blocked.h"

namespace sv::stop {
namespace {

using namespace std::chrono_literals;

void OtherHandler(int) {}

Strategy BestAvailable() {
  if (Available(Strategy::kRseq)) return Strategy::kRseq;
  if (Available(Strategy::kSignalPc)) return Strategy::kSignalPc;
  return Strategy::kSigmask;
}

// In a fresh process, so that no earlier test has chosen a strategy.
TEST(StrategyDeathTest, InitPicksTheBestAvailableStrategy) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto active = Init();
        std::exit(active && *active == BestAvailable() && WakeSignal() == SIGRTMIN + 3 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(StrategyTest, HandlerIsInstalledWithoutSaRestart) {
  ASSERT_TRUE(Init());
  struct sigaction act {};
  ASSERT_EQ(sigaction(WakeSignal(), nullptr, &act), 0);
  EXPECT_TRUE(act.sa_flags & SA_SIGINFO);
  EXPECT_FALSE(act.sa_flags & SA_RESTART);
}

TEST(StrategyTest, SecondInitWithAnotherSignalFails) {
  ASSERT_TRUE(Init());
  auto again = Init({.signal = SIGUSR2});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Init({.signal = WakeSignal()}));
}

// Each death test runs in a fresh process, so Init there is the first one.
TEST(StrategyDeathTest, RefusesToStealAnInstalledHandler) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::signal(SIGRTMIN + 5, OtherHandler);
        auto r = Init({.signal = SIGRTMIN + 5});
        std::fprintf(stderr, "%s\n", r ? "installed" : r.error().ToString().c_str());
        struct sigaction act {};
        sigaction(SIGRTMIN + 5, nullptr, &act);
        bool kept = act.sa_handler == OtherHandler;
        std::exit(!r && r.error().code() == ErrorCode::kInUse && kept ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "SIGRTMIN\\+5 already has a handler");
}

TEST(StrategyDeathTest, RefusesAnIgnoredSignalAndUnusableSignals) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::signal(SIGUSR1, SIG_IGN);
        auto ignored = Init({.signal = SIGUSR1});
        auto segv = Init({.signal = SIGSEGV});
        std::fprintf(stderr, "%s\n", segv ? "installed" : segv.error().ToString().c_str());
        std::exit(!ignored && ignored.error().code() == ErrorCode::kInUse && !segv &&
                          segv.error().code() == ErrorCode::kInvalidArgument
                      ? 0
                      : 1);
      },
      ::testing::ExitedWithCode(0), "not SIGUSR1, SIGUSR2 or a real-time signal");
}

TEST(StrategyDeathTest, ChosenSignalAndStrategyAreUsed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto r = Init({.signal = SIGUSR2, .strategy = Strategy::kSigmask});
        std::exit(r && *r == Strategy::kSigmask && WakeSignal() == SIGUSR2 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// With GLIBC_TUNABLES=glibc.pthread.rseq=0 glibc registers nothing; the library
// must register the thread's area itself. .ci/run runs this binary that way.
TEST(StrategyTest, RseqWorksWhenGlibcDidNotRegister) {
  if (__rseq_size > 0) GTEST_SKIP() << "glibc registered rseq; run with GLIBC_TUNABLES=glibc.pthread.rseq=0";
#if defined(__x86_64__)
  // Our own probe: can this kernel register an rseq area at all?
  EXPECT_TRUE(Available(Strategy::kRseq)) << "rseq area could not be registered";
  auto active = Init();
  ASSERT_TRUE(active);
  EXPECT_EQ(*active, Strategy::kRseq);
#else
  GTEST_SKIP() << "rseq strategy is x86-64 only";
#endif
}

// Choosing another strategy must not register rseq behind the application's
// back: with glibc's registration disabled, that would also make glibc register
// every thread this one creates.
TEST(StrategyDeathTest, ChoosingSigmaskLeavesRseqUnregistered) {
  if (__rseq_size > 0) GTEST_SKIP() << "only observable with GLIBC_TUNABLES=glibc.pthread.rseq=0";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto r = Init({.strategy = Strategy::kSigmask});
        auto* area = reinterpret_cast<struct rseq*>(static_cast<char*>(__builtin_thread_pointer()) +
                                                    __rseq_offset);
        std::exit(r && static_cast<std::int32_t>(area->cpu_id) < 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// One thread switches strategy between calls; each switch must leave the wake-up
// signal's mask right for the next one (blocked for sigmask, unblocked otherwise).
TEST(StrategyTest, OneThreadMayUseEveryStrategyInTurn) {
  ASSERT_TRUE(Init());
  for (Strategy s : {Strategy::kSigmask, Strategy::kRseq, Strategy::kEventFd, Strategy::kSigmask,
                     Strategy::kSignalPc, Strategy::kEventFd, Strategy::kRseq}) {
    if (!Available(s)) continue;
    ASSERT_TRUE(SetStrategy(s));
    auto outcome = testing::StopWhileBlocked(
        [](std::stop_token t) { return SleepFor(t, 1h); }, {SYS_ppoll});
    ASSERT_FALSE(outcome.status) << StrategyName(s);
    EXPECT_EQ(outcome.status.error().code(), ErrorCode::kStopped) << StrategyName(s);
  }
}

std::size_t OpenDescriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// The eventfd strategy gives each thread a descriptor; it must not outlive the thread.
TEST(StrategyTest, EventFdStrategyClosesTheThreadsDescriptorWhenItExits) {
  ASSERT_TRUE(SetStrategy(Strategy::kEventFd));
  std::size_t before = OpenDescriptors();
  for (int i = 0; i < 3; ++i) {
    auto outcome = testing::StopWhileBlocked([](std::stop_token t) { return SleepFor(t, 1h); }, {SYS_ppoll});
    ASSERT_FALSE(outcome.status);
    EXPECT_EQ(outcome.status.error().code(), ErrorCode::kStopped);
  }
  EXPECT_EQ(OpenDescriptors(), before);
}

// After fork() the child's copy of this thread must not share the parent's stop
// eventfd: a stop in the parent would wake the child, and the other way round.
TEST(StrategyTest, ForkedChildDoesNotShareTheParentsStopEventFd) {
  ASSERT_TRUE(SetStrategy(Strategy::kEventFd));
  std::stop_source warm_up;
  ASSERT_TRUE(SleepFor(warm_up.get_token(), 1ms));  // this thread now has its eventfd
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::stop_source never;
    _exit(SleepFor(never.get_token(), 300ms) ? 0 : 1);  // kStopped here would be the bug
  }
  std::stop_source source;
  pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
  std::jthread stopper([&] {
    if (testing::WaitUntilBlockedIn(self, {SYS_ppoll}, Deadline::After(5s))) source.request_stop();
  });
  auto r = SleepFor(source.get_token(), 10s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kStopped);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child's sleep was stopped by the parent";
}

// A thread_local destroyed after the thread's stop eventfd was closed may still
// make a call; it must fail cleanly, not use a descriptor number reused by now.
std::atomic<int> g_late_call_code{-1};

struct CallsFromDestructor {
  ~CallsFromDestructor() {
    std::stop_source source;
    auto r = SleepFor(source.get_token(), std::chrono::milliseconds(1));
    g_late_call_code.store(r ? 0 : static_cast<int>(r.error().code()) + 1);
  }
};
thread_local CallsFromDestructor tls_late_caller;

TEST(StrategyTest, EventFdCallFromLateThreadLocalDestructorFailsCleanly) {
  ASSERT_TRUE(SetStrategy(Strategy::kEventFd));
  std::thread([] {
    (void)&tls_late_caller;  // constructed first, so destroyed after the stop eventfd
    std::stop_source source;
    ASSERT_TRUE(SleepFor(source.get_token(), std::chrono::milliseconds(1)));
  }).join();
  EXPECT_EQ(g_late_call_code.load(), static_cast<int>(ErrorCode::kUnsupported) + 1);
}

// Pause loops that take roughly `d` on this machine.
std::uint32_t PauseLoopsFor(std::chrono::milliseconds d) {
  constexpr std::uint32_t kProbe = 1'000'000;
  auto t0 = std::chrono::steady_clock::now();
  internal::RaceWindowSpin(kProbe);
  auto per = (std::chrono::steady_clock::now() - t0) / double{kProbe};
  return static_cast<std::uint32_t>(std::min<double>(4e9, d / per));
}

std::chrono::nanoseconds ThreadCpuTime(pthread_t thread) {
  clockid_t clock;
  SV_CHECK(pthread_getcpuclockid(thread, &clock) == 0);
  timespec ts{};
  clock_gettime(clock, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

class RaceWindowTest : public ::testing::TestWithParam<Strategy> {
 protected:
  void SetUp() override {
    if (!Available(GetParam())) GTEST_SKIP() << StrategyName(GetParam()) << " not available";
    ASSERT_TRUE(SetStrategy(GetParam()));
  }
};

// The stop arrives while the thread spins between its stop check and the
// blocking recv: exactly the window a naive "check, then call" loses. The recv
// would block forever, so returning at all proves the window is closed.
TEST_P(RaceWindowTest, StopInsideTheWindowIsNotMissed) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::uint32_t window = PauseLoopsFor(1500ms);
  std::atomic<bool> entering{false};
  std::promise<std::pair<Status, ThreadStats>> result;
  std::jthread thread([&](std::stop_token token) {
    internal::SetRaceWindowForTesting(window);
    std::byte buf[8];
    entering.store(true);
    Status s = testing::ToStatus(Recv(token, fd.get(), buf));
    result.set_value({s, ThisThreadStats()});
  });
  auto deadline = Deadline::After(10s);
  while (!entering.load() && !deadline.Expired()) std::this_thread::yield();
  // 100 ms of CPU after "entering" can only be the window's busy-wait.
  auto cpu0 = ThreadCpuTime(thread.native_handle());
  while (ThreadCpuTime(thread.native_handle()) - cpu0 < 100ms && !deadline.Expired()) {
    std::this_thread::yield();
  }
  thread.request_stop();
  auto f = result.get_future();
  if (f.wait_for(10s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: stop inside the race window was missed\n");
    std::_Exit(1);
  }
  auto [status, stats] = f.get();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kStopped);
  if (GetParam() == Strategy::kSignalPc) {
    EXPECT_EQ(stats.pc_redirects, 1u);
  }
  if (GetParam() == Strategy::kRseq) {
    EXPECT_EQ(stats.rseq_stops, 1u);  // the kernel's abort, not the handler, caught it
    EXPECT_EQ(stats.pc_redirects, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, RaceWindowTest,
                         testing::AllStrategies(),
                         testing::StrategyParamName);

}  // namespace
}  // namespace sv::stop
