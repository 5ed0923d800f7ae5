// Every stop-aware call under every strategy: stopped while blocked (real
// threads, sockets, pipes and futexes), stopped before it starts, and normal
// completion, deadlines and errors when no stop comes.
#include "stop/calls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>

#include <array>
#include <vector>

#include "base/unique_fd.h"
#include "stop/strategy.h"
#include "tests/stop/blocked.h"

namespace sv::stop {
namespace {

using testing::CallAlreadyStopped;
using testing::StopWhileBlocked;
using testing::ToStatus;
using namespace std::chrono_literals;

// Syscalls a stopped call may be blocked in: the operation itself (rseq and
// signal-pc with no deadline) or the readiness wait.
#define BLOCKED_IN(nr) {static_cast<long>(nr), long{SYS_ppoll}, long{SYS_futex_waitv}}

struct Pipe {
  UniqueFd read, write;
};

Pipe MakePipe() {
  int fds[2];
  SV_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

struct UdpSocket {
  UniqueFd fd;
  sockaddr_in addr{};
};

UdpSocket MakeUdp() {
  UdpSocket s{UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0))};
  s.addr.sin_family = AF_INET;
  s.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof s.addr;
  SV_CHECK(::bind(s.fd.get(), reinterpret_cast<sockaddr*>(&s.addr), sizeof s.addr) == 0);
  SV_CHECK(::getsockname(s.fd.get(), reinterpret_cast<sockaddr*>(&s.addr), &len) == 0);
  return s;
}

UniqueFd ListeningTcp(sockaddr_in& addr) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  SV_CHECK(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  SV_CHECK(::listen(fd.get(), 4) == 0);
  SV_CHECK(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return fd;
}

bool UsesStub(Strategy s) { return s == Strategy::kRseq || s == Strategy::kSignalPc; }

class StopCallsTest : public ::testing::TestWithParam<Strategy> {
 protected:
  void SetUp() override {
    if (!Available(GetParam())) GTEST_SKIP() << StrategyName(GetParam()) << " not available";
    ASSERT_TRUE(SetStrategy(GetParam()));
  }

  // The common assertions: stopped, and the thread unwound normally.
  static void ExpectStopped(const testing::Outcome& outcome) {
    ASSERT_FALSE(outcome.status.has_value());
    EXPECT_EQ(outcome.status.error().code(), ErrorCode::kStopped) << outcome.status.error().ToString();
    EXPECT_TRUE(outcome.destructors_ran);
  }
  static void ExpectStoppedAtOnce(const Status& status) {
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::kStopped);
  }
};

TEST_P(StopCallsTest, RecvStoppedWhileBlocked) {
  UdpSocket udp = MakeUdp();
  std::byte buf[64];
  ExpectStopped(StopWhileBlocked(
      [&](std::stop_token t) { return ToStatus(Recv(t, udp.fd.get(), buf)); },
      BLOCKED_IN(SYS_recvfrom)));
}

TEST_P(StopCallsTest, RecvWithDeadlineStoppedWhileBlocked) {
  UdpSocket udp = MakeUdp();
  std::byte buf[64];
  ExpectStopped(StopWhileBlocked(
      [&](std::stop_token t) { return ToStatus(Recv(t, udp.fd.get(), buf, 0, Deadline::After(1h))); },
      BLOCKED_IN(SYS_recvfrom)));
}

TEST_P(StopCallsTest, RecvStoppedBeforeItStartsEvenWithDataWaiting) {
  UdpSocket udp = MakeUdp();
  ASSERT_EQ(::sendto(udp.fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&udp.addr), sizeof udp.addr), 1);
  std::byte buf[64];
  ExpectStoppedAtOnce(CallAlreadyStopped([&](std::stop_token t) { return ToStatus(Recv(t, udp.fd.get(), buf)); }));
  // The datagram was not consumed by the stopped call.
  std::stop_source live;
  auto n = Recv(live.get_token(), udp.fd.get(), buf);
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 1u);
}

TEST_P(StopCallsTest, RecvReturnsDataAndHonoursDeadline) {
  UdpSocket udp = MakeUdp();
  std::stop_source source;
  ASSERT_EQ(::sendto(udp.fd.get(), "hello", 5, 0, reinterpret_cast<sockaddr*>(&udp.addr), sizeof udp.addr), 5);
  std::byte buf[64];
  auto n = Recv(source.get_token(), udp.fd.get(), buf);
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 5u);
  auto late = Recv(source.get_token(), udp.fd.get(), buf, 0, Deadline::After(20ms));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kDeadlineExceeded);
}

TEST_P(StopCallsTest, RecvOnNonBlockingSocketStillBlocksUntilStopped) {
  UdpSocket udp = MakeUdp();
  ASSERT_EQ(::fcntl(udp.fd.get(), F_SETFL, O_NONBLOCK), 0);
  std::byte buf[64];
  ExpectStopped(StopWhileBlocked(
      [&](std::stop_token t) { return ToStatus(Recv(t, udp.fd.get(), buf)); }, BLOCKED_IN(SYS_recvfrom)));
}

TEST_P(StopCallsTest, ReadStoppedWhileBlocked) {
  Pipe p = MakePipe();
  std::byte buf[16];
  ExpectStopped(StopWhileBlocked([&](std::stop_token t) { return ToStatus(Read(t, p.read.get(), buf)); },
                                 BLOCKED_IN(SYS_read)));
  ExpectStoppedAtOnce(CallAlreadyStopped([&](std::stop_token t) { return ToStatus(Read(t, p.read.get(), buf)); }));
}

TEST_P(StopCallsTest, ReadReportsEndOfFileAsZero) {
  Pipe p = MakePipe();
  p.write.Reset();
  std::byte buf[16];
  std::stop_source source;
  auto n = Read(source.get_token(), p.read.get(), buf);
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 0u);
}

// A regular file polls as always ready; with a deadline the read must still
// complete (not spin on RWF_NOWAIT's "not in the page cache").
TEST_P(StopCallsTest, ReadOfRegularFileWithDeadlineCompletes) {
  UniqueFd file(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file.valid());
  ASSERT_EQ(::posix_fadvise(file.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
  std::byte buf[4096];
  std::stop_source source;
  auto n = Read(source.get_token(), file.get(), buf, Deadline::After(5s));
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, sizeof buf);
}

TEST_P(StopCallsTest, WriteToFullPipeStoppedWhileBlocked) {
  Pipe p = MakePipe();
  ASSERT_EQ(::fcntl(p.write.get(), F_SETFL, O_NONBLOCK), 0);
  std::array<std::byte, 4096> chunk{};
  while (::write(p.write.get(), chunk.data(), chunk.size()) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  ASSERT_EQ(::fcntl(p.write.get(), F_SETFL, 0), 0);  // blocking again: the write blocks
  ExpectStopped(StopWhileBlocked([&](std::stop_token t) { return ToStatus(Write(t, p.write.get(), chunk)); },
                                 BLOCKED_IN(SYS_write)));
  ExpectStoppedAtOnce(CallAlreadyStopped([&](std::stop_token t) { return ToStatus(Write(t, p.write.get(), chunk)); }));
}

TEST_P(StopCallsTest, AcceptStoppedWhileBlockedAndAcceptsConnections) {
  sockaddr_in addr;
  UniqueFd listener = ListeningTcp(addr);
  ExpectStopped(StopWhileBlocked([&](std::stop_token t) { return ToStatus(Accept(t, listener.get())); },
                                 BLOCKED_IN(SYS_accept4)));
  ExpectStoppedAtOnce(CallAlreadyStopped([&](std::stop_token t) { return ToStatus(Accept(t, listener.get())); }));

  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::stop_source source;
  auto conn = Accept(source.get_token(), listener.get(), Deadline::After(5s));
  ASSERT_TRUE(conn) << conn.error().ToString();
  EXPECT_TRUE(conn->valid());
  EXPECT_EQ(::fcntl(conn->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_P(StopCallsTest, PollStoppedWhileBlockedAndReportsReadyDescriptors) {
  Pipe a = MakePipe(), b = MakePipe();
  std::array<pollfd, 2> fds{{{a.read.get(), POLLIN, 0}, {b.read.get(), POLLIN, 0}}};
  ExpectStopped(StopWhileBlocked([&](std::stop_token t) { return ToStatus(Poll(t, fds)); }, {SYS_ppoll}));
  ExpectStoppedAtOnce(CallAlreadyStopped([&](std::stop_token t) { return ToStatus(Poll(t, fds)); }));

  ASSERT_EQ(::write(b.write.get(), "x", 1), 1);
  std::stop_source source;
  auto n = Poll(source.get_token(), fds, Deadline::After(5s));
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_TRUE(fds[1].revents & POLLIN);
  char byte;
  ASSERT_EQ(::read(b.read.get(), &byte, 1), 1);
  auto none = Poll(source.get_token(), fds, Deadline::After(10ms));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kDeadlineExceeded);
}

TEST_P(StopCallsTest, EpollWaitStoppedWhileBlockedAndReturnsEvents) {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  Pipe p = MakePipe();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = p.read.get();
  ASSERT_EQ(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.read.get(), &ev), 0);
  std::array<epoll_event, 4> events{};
  ExpectStopped(StopWhileBlocked([&](std::stop_token t) { return ToStatus(EpollWait(t, ep.get(), events)); },
                                 {SYS_epoll_pwait, SYS_ppoll}));
  ExpectStoppedAtOnce(CallAlreadyStopped([&](std::stop_token t) { return ToStatus(EpollWait(t, ep.get(), events)); }));

  ASSERT_EQ(::write(p.write.get(), "x", 1), 1);
  std::stop_source source;
  auto n = EpollWait(source.get_token(), ep.get(), events, Deadline::After(5s));
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(events[0].data.fd, p.read.get());
}

TEST_P(StopCallsTest, SleepStoppedWhileBlockedAndSleepsUntilDeadline) {
  ExpectStopped(StopWhileBlocked([](std::stop_token t) { return SleepFor(t, 1h); }, {SYS_ppoll}));
  ExpectStoppedAtOnce(CallAlreadyStopped([](std::stop_token t) { return SleepFor(t, 1h); }));

  std::stop_source source;
  auto deadline = Deadline::After(20ms);
  EXPECT_TRUE(SleepUntil(source.get_token(), deadline));
  EXPECT_TRUE(deadline.Expired());
}


TEST_P(StopCallsTest, FutexWaitPrivateStoppedWhileBlocked) {
  std::atomic<std::uint32_t> word{7};
  ExpectStopped(StopWhileBlocked(
      [&](std::stop_token t) { return FutexWait(t, word, 7, Deadline::Infinite(), FutexScope::kPrivate); },
      {SYS_futex, SYS_futex_waitv}));
  ExpectStoppedAtOnce(CallAlreadyStopped([&](std::stop_token t) { return FutexWait(t, word, 7); }));
}

TEST_P(StopCallsTest, FutexWaitSharedStoppedWhileBlocked) {
  std::atomic<std::uint32_t> word{7};
  ExpectStopped(StopWhileBlocked(
      [&](std::stop_token t) { return FutexWait(t, word, 7, Deadline::Infinite(), FutexScope::kShared); },
      {SYS_futex, SYS_futex_waitv}));
}

TEST_P(StopCallsTest, FutexWaitWokenByTheWordAndTimesOut) {
  std::atomic<std::uint32_t> word{0};
  std::stop_source source;
  EXPECT_TRUE(FutexWait(source.get_token(), word, 1));  // value differs: returns at once
  auto timed = FutexWait(source.get_token(), word, 0, Deadline::After(10ms));
  ASSERT_FALSE(timed);
  EXPECT_EQ(timed.error().code(), ErrorCode::kDeadlineExceeded);

  std::promise<pid_t> tid;
  std::jthread waker([&] {
    testing::WaitUntilBlockedIn(tid.get_future().get(), {SYS_futex, SYS_futex_waitv}, Deadline::After(5s));
    word.store(1);
    ::syscall(SYS_futex, &word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  });
  tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
  EXPECT_TRUE(FutexWait(source.get_token(), word, 0, Deadline::After(5s), FutexScope::kShared));
  EXPECT_EQ(word.load(), 1u);
}

// The generic path on a syscall with no sigmask variant: a raw FUTEX_WAIT.
TEST_P(StopCallsTest, SyscallOrStopInterruptsRawFutexWait) {
  std::atomic<std::uint32_t> word{0};
  auto raw_wait = [&](std::stop_token t) {
    return ToStatus(SyscallOrStop(t, SYS_futex, reinterpret_cast<long>(&word), FUTEX_WAIT_PRIVATE, 0));
  };
  if (!UsesStub(GetParam())) {
    auto r = raw_wait(std::stop_source().get_token());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kUnsupported);
    return;
  }
  ExpectStopped(StopWhileBlocked(raw_wait, {SYS_futex}));
  ExpectStoppedAtOnce(CallAlreadyStopped(raw_wait));
}

TEST_P(StopCallsTest, SyscallOrStopReturnsValueOrErrno) {
  if (!UsesStub(GetParam())) GTEST_SKIP() << "no raw syscalls under " << StrategyName(GetParam());
  std::stop_source source;
  auto pid = SyscallOrStop(source.get_token(), SYS_getpid);
  ASSERT_TRUE(pid);
  EXPECT_EQ(*pid, ::getpid());
  auto bad = SyscallOrStop(source.get_token(), SYS_close, -1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(bad.error().sys_errno(), EBADF);
}

TEST_P(StopCallsTest, TokenWithoutStopStateMakesPlainCalls) {
  Pipe p = MakePipe();
  ASSERT_EQ(::write(p.write.get(), "ab", 2), 2);
  std::byte buf[4];
  auto n = Read(std::stop_token{}, p.read.get(), buf);
  ASSERT_TRUE(n) << n.error().ToString();
  EXPECT_EQ(*n, 2u);
}

TEST_P(StopCallsTest, OneStopWakesEveryThreadSharingTheSource) {
  std::stop_source source;
  constexpr int kThreads = 4;
  std::array<UdpSocket, kThreads> sockets;
  std::array<std::promise<Status>, kThreads> results;
  std::vector<std::jthread> threads;
  std::array<pid_t, kThreads> tids{};
  std::atomic<int> started{0};
  for (int i = 0; i < kThreads; ++i) {
    sockets[i] = MakeUdp();
    threads.emplace_back([&, i] {
      tids[i] = static_cast<pid_t>(::syscall(SYS_gettid));
      started.fetch_add(1);
      std::byte buf[8];
      results[i].set_value(ToStatus(Recv(source.get_token(), sockets[i].fd.get(), buf)));
    });
  }
  auto deadline = Deadline::After(5s);
  while (started.load() < kThreads && !deadline.Expired()) std::this_thread::yield();
  for (pid_t tid : tids) ASSERT_TRUE(testing::WaitUntilBlockedIn(tid, BLOCKED_IN(SYS_recvfrom), deadline));
  source.request_stop();
  for (auto& r : results) {
    auto f = r.get_future();
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    Status s = f.get();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::kStopped);
  }
}

// A blocking write of more than the socket buffer holds: under sigmask the
// write must not run blocking with the wake-up signal blocked.
Status WriteAllOf(const std::stop_token& t, int fd, std::span<const std::byte> data, Deadline d) {
  while (!data.empty()) {
    auto n = Write(t, fd, data, d);
    if (!n) return std::unexpected(n.error());
    data = data.subspan(*n);
  }
  return {};
}

TEST_P(StopCallsTest, LargeBlockingWriteStoppedWhileBlocked) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  std::vector<std::byte> big(8 << 20);
  ExpectStopped(StopWhileBlocked(
      [&](std::stop_token t) { return WriteAllOf(t, a.get(), big, Deadline::Infinite()); },
      BLOCKED_IN(SYS_write)));
}

TEST_P(StopCallsTest, LargeBlockingWriteHonoursTheDeadline) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  std::vector<std::byte> big(8 << 20);
  std::stop_source source;
  auto r = WriteAllOf(source.get_token(), a.get(), big, Deadline::After(100ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kDeadlineExceeded) << r.error().ToString();
}

// Another signal, with an SA_RESTART handler, interrupts the blocked call and
// is still running when the stop arrives; on return the kernel restarts the
// system call. The stop must win over the restart.
std::atomic<bool> g_in_app_handler{false};
std::atomic<bool> g_stop_sent{false};

void SlowRestartingHandler(int) {
  g_in_app_handler.store(true);
  auto deadline = Deadline::After(5s);
  while (!g_stop_sent.load() && !deadline.Expired()) {
  }
}

TEST_P(StopCallsTest, StopDuringAnotherRestartingHandlerIsNotMissed) {
  struct sigaction act {}, old {};
  act.sa_handler = SlowRestartingHandler;
  act.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGUSR2, &act, &old), 0);
  g_in_app_handler.store(false);
  g_stop_sent.store(false);
  Pipe p = MakePipe();
  std::promise<pid_t> tid;
  std::promise<Status> result;
  std::jthread reader([&](std::stop_token t) {
    tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
    std::byte buf[8];
    result.set_value(ToStatus(Read(t, p.read.get(), buf)));
  });
  ASSERT_TRUE(testing::WaitUntilBlockedIn(tid.get_future().get(), BLOCKED_IN(SYS_read), Deadline::After(5s)));
  ASSERT_EQ(pthread_kill(reader.native_handle(), SIGUSR2), 0);
  auto deadline = Deadline::After(5s);
  while (!g_in_app_handler.load() && !deadline.Expired()) std::this_thread::yield();
  ASSERT_TRUE(g_in_app_handler.load());
  reader.request_stop();  // the wake-up lands inside the application's handler
  g_stop_sent.store(true);
  auto f = result.get_future();
  if (f.wait_for(5s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: stop missed after a restarting handler\n");
    std::_Exit(1);
  }
  Status s = f.get();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kStopped);
  sigaction(SIGUSR2, &old, nullptr);
}

// After a stop the thread is left as it was: no wake-up signal pending for the
// application's next system call (a ppoll with an empty mask would take it and
// return EINTR), and the signal blocked only where the strategy keeps it so.
TEST_P(StopCallsTest, StopLeavesNoWakeUpSignalPendingOrNewlyBlocked) {
  UdpSocket udp = MakeUdp();
  struct After {
    bool stopped, pending, blocked;
  };
  std::promise<pid_t> tid;
  std::promise<After> after;
  std::jthread thread([&](std::stop_token token) {
    tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
    std::byte buf[8];
    auto r = Recv(token, udp.fd.get(), buf);
    sigset_t pending, mask;
    sigpending(&pending);
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    after.set_value({!r && r.error().stopped(), sigismember(&pending, WakeSignal()) == 1,
                     sigismember(&mask, WakeSignal()) == 1});
  });
  ASSERT_TRUE(testing::WaitUntilBlockedIn(tid.get_future().get(), BLOCKED_IN(SYS_recvfrom),
                                          Deadline::After(5s)));
  thread.request_stop();
  auto f = after.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  After a = f.get();
  EXPECT_TRUE(a.stopped);
  EXPECT_FALSE(a.pending);
  EXPECT_EQ(a.blocked, GetParam() == Strategy::kSigmask);
}

INSTANTIATE_TEST_SUITE_P(Strategies, StopCallsTest,
                         testing::AllStrategies(),
                         testing::StrategyParamName);

}  // namespace
}  // namespace sv::stop
