// Requesting a stop from a signal handler.
#include "stop/signal_safe_stop_source.h"

#include <pthread.h>
#include <signal.h>

#include "stop/calls.h"
#include "tests/stop/blocked.h"

namespace sv::stop {
namespace {

using namespace std::chrono_literals;

SignalSafeStopSource* g_source = nullptr;

void RequestStopFromHandler(int) { g_source->RequestStop(); }

class SignalSafeStopSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto source = SignalSafeStopSource::Create();
    ASSERT_TRUE(source) << source.error().ToString();
    source_ = std::move(*source);
    g_source = source_.get();
    struct sigaction act {};
    act.sa_handler = RequestStopFromHandler;
    ASSERT_EQ(sigaction(SIGUSR1, &act, &old_), 0);
  }
  void TearDown() override {
    sigaction(SIGUSR1, &old_, nullptr);
    g_source = nullptr;
  }

  std::unique_ptr<SignalSafeStopSource> source_;
  struct sigaction old_ {};
};

// The SIGTERM-handler use: a handler on the main thread stops a worker blocked in recv.
TEST_F(SignalSafeStopSourceTest, HandlerStopsThreadBlockedInRecv) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  std::promise<pid_t> tid;
  std::promise<Status> result;
  std::jthread worker([&] {
    tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
    std::byte buf[8];
    result.set_value(testing::ToStatus(Recv(source_->get_token(), a.get(), buf)));
  });
  ASSERT_TRUE(testing::WaitUntilBlockedIn(tid.get_future().get(), {SYS_recvfrom, SYS_ppoll}, Deadline::After(5s)));
  ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  Status s = f.get();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kStopped);
  EXPECT_TRUE(source_->stop_requested());
}

// The handler runs on the very thread that is registering and removing stop
// callbacks on the same stop state, many times over. std::stop_source's own
// request_stop() could deadlock there; RequestStop() must not.
TEST_F(SignalSafeStopSourceTest, HandlerInterruptingCallbackRegistrationDoesNotDeadlock) {
  for (int round = 0; round < 50; ++round) {
    auto source = SignalSafeStopSource::Create();
    ASSERT_TRUE(source);
    g_source = source->get();
    std::atomic<bool> running{false};
    std::promise<void> done;
    std::jthread spinner([&] {
      running.store(true);
      std::atomic<std::uint32_t> word{1};
      // Zero-length waits: almost all time is spent registering callbacks.
      while (FutexWait(g_source->get_token(), word, 0, Deadline::After(0s)).has_value()) {
      }
      done.set_value();
    });
    auto deadline = Deadline::After(5s);
    while (!running.load() && !deadline.Expired()) std::this_thread::yield();
    auto finished = done.get_future();
    while (finished.wait_for(0s) != std::future_status::ready && !deadline.Expired()) {
      pthread_kill(spinner.native_handle(), SIGUSR1);
    }
    ASSERT_EQ(finished.wait_for(5s), std::future_status::ready) << "round " << round;
  }
}

TEST_F(SignalSafeStopSourceTest, RequestStopPreservesErrno) {
  errno = EDOM;
  source_->RequestStop();
  EXPECT_EQ(errno, EDOM);
}

TEST(SignalSafeStopSourceLifetimeTest, DestructionDoesNotRequestStop) {
  std::stop_token token;
  {
    auto source = SignalSafeStopSource::Create();
    ASSERT_TRUE(source);
    token = (*source)->get_token();
  }
  EXPECT_TRUE(token.stop_possible() || !token.stop_requested());
  EXPECT_FALSE(token.stop_requested());
}

}  // namespace
}  // namespace sv::stop
