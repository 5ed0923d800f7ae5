#include "stop/stop_event_fd.h"

#include <poll.h>
#include <sys/epoll.h>

#include <thread>

#include "tests/stop/blocked.h"

namespace sv::stop {
namespace {

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

TEST(StopEventFdTest, BecomesReadableWhenStopped) {
  std::stop_source source;
  auto efd = StopEventFd::Create(source.get_token());
  ASSERT_TRUE(efd) << efd.error().ToString();
  EXPECT_FALSE(Readable((*efd)->fd(), 0));
  source.request_stop();
  EXPECT_TRUE(Readable((*efd)->fd(), 5000));
}

TEST(StopEventFdTest, StopBeforeCreationIsReadableAtOnce) {
  std::stop_source source;
  source.request_stop();
  auto efd = StopEventFd::Create(source.get_token());
  ASSERT_TRUE(efd);
  EXPECT_TRUE(Readable((*efd)->fd(), 0));
}

// An event loop that owns its epoll set stops with no signal at all.
TEST(StopEventFdTest, StopsAnEpollLoopBlockedInThePlainSyscall) {
  std::atomic<bool> ran{false};
  std::promise<pid_t> tid;
  std::promise<bool> exited_on_stop;
  std::jthread loop([&](std::stop_token token) {
    testing::Witness witness{&ran};
    auto efd = StopEventFd::Create(token);
    SV_CHECK(efd.has_value());
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = (*efd)->fd();
    SV_CHECK(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, (*efd)->fd(), &ev) == 0);
    tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
    epoll_event out{};
    int n = ::epoll_wait(ep.get(), &out, 1, 10'000);
    exited_on_stop.set_value(n == 1 && out.data.fd == (*efd)->fd());
  });
  ASSERT_TRUE(testing::WaitUntilBlockedIn(tid.get_future().get(), {SYS_epoll_wait, SYS_epoll_pwait},
                                          Deadline::After(std::chrono::seconds(5))));
  loop.request_stop();
  EXPECT_TRUE(exited_on_stop.get_future().get());
  loop.join();
  EXPECT_TRUE(ran.load());
}

}  // namespace
}  // namespace sv::stop
