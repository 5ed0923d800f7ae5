// Stop-aware blocking calls. Each call: (1) returns kStopped at once if the token
// is already stopped, (2) registers a stop callback that sets this thread's stop
// word and wakes it, (3) blocks in a way that cannot miss that wake-up:
//   kRseq / kSignalPc  the syscall itself, through the guarded stub;
//   kSigmask           ppoll/epoll_pwait/futex_waitv with the signal blocked
//                      until the kernel atomically unblocks it;
//   kEventFd           ppoll with the thread's stop eventfd, or futex_waitv.
#include "stop/calls.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "stop/internal/testing.h"
#include "stop/internal/thread_state.h"

namespace sv::stop {
namespace {

using internal::CallScope;
using internal::CurrentThread;
using internal::GuardedSyscall;
using internal::RawResult;
using internal::ThreadState;

constexpr long kSigsetSize = 8;  // the kernel's sigset_t, for raw ppoll/epoll_pwait

std::string Context(const char* call, int fd) {
  return fd < 0 ? std::string(call) : std::string(call) + " fd=" + std::to_string(fd);
}

// Stopping is the normal way out of a loop, not a failure to report: the
// message names the call only, and is built on the stop path alone.
std::unexpected<Error> Stopped(const char* call, int /*fd*/) {
  return Fail(ErrorCode::kStopped, std::string(call) + ": stopped");
}

std::unexpected<Error> TimedOut(const char* call, int fd) {
  return Fail(ErrorCode::kDeadlineExceeded, Context(call, fd) + ": deadline exceeded");
}

// rseq and signal-pc can guard any system call; sigmask and eventfd guard only waits.
bool UsesStub(Strategy strategy) {
  return strategy == Strategy::kRseq || strategy == Strategy::kSignalPc;
}

// How the stop callback wakes a thread blocked in a descriptor wait or sleep.
std::uint8_t WakeModeFor(Strategy strategy) {
  return strategy == Strategy::kEventFd ? internal::kWakeEventFd : internal::kWakeSignal;
}

// The prologue every call shares: initialisation, the early stop check, and what
// the strategy needs in this thread (the signal mask, or the stop eventfd).
std::expected<Strategy, Error> Begin(const std::stop_token& token, ThreadState& thread,
                                     const char* call, int fd) {
  auto strategy = ActiveStrategy();
  if (!strategy) return strategy;
  if (token.stop_requested()) return Stopped(call, fd);
  if (*strategy == Strategy::kEventFd) {
    if (thread.stop_fd == internal::kStopFdGone) {
      return Fail(ErrorCode::kUnsupported,
                  std::string(call) + ": called from a thread_local destructor after the "
                  "thread's stop eventfd was closed (eventfd strategy)");
    }
    if (internal::StopFd(thread) < 0) return FailErrno("stop eventfd", errno);
    return strategy;
  }
  EnsureMask(thread, *strategy == Strategy::kSigmask ? internal::MaskState::kBlocked
                                                     : internal::MaskState::kUnblocked);
  return strategy;
}

bool StopSeen(const ThreadState& thread) {
  return thread.stop_word.load(std::memory_order_acquire) != 0;
}

// kSigmask: the wake-up signal is blocked here, so a stop that lands after the
// check stays pending until the kernel unblocks it inside ppoll.
RawResult MaskedPpoll(ThreadState& thread, pollfd* fds, nfds_t n, const timespec* timeout) {
  if (StopSeen(thread)) return {-EINTR, 1};
  internal::RaceWindowSpin(thread.window_spins);
  int r = ::ppoll(fds, n, timeout, &thread.ppoll_mask);
  return {r < 0 ? -errno : r, 0};
}

// kEventFd: the caller's descriptors plus this thread's stop eventfd, which the
// stop callback makes readable; it keeps its count, so a stop that lands after
// the check is seen by ppoll all the same.
RawResult EventFdPpoll(ThreadState& thread, pollfd* fds, nfds_t n, const timespec* timeout) {
  std::array<pollfd, 9> inline_set;
  std::vector<pollfd> heap_set;
  pollfd* set = inline_set.data();
  if (n + 1 > inline_set.size()) {
    heap_set.resize(n + 1);
    set = heap_set.data();
  }
  std::copy_n(fds, n, set);
  set[n] = {thread.stop_fd, POLLIN, 0};
  if (StopSeen(thread)) return {-EINTR, 1};
  internal::RaceWindowSpin(thread.window_spins);
  int r = ::ppoll(set, n + 1, timeout, nullptr);
  if (r < 0) return {-errno, 0};
  if (set[n].revents != 0) return {-EINTR, 1};
  for (nfds_t i = 0; i < n; ++i) fds[i].revents = set[i].revents;
  return {r, 0};
}

// One ppoll under whichever strategy, with the deadline's time left.
RawResult BlockingPpoll(Strategy strategy, ThreadState& thread, pollfd* fds, nfds_t n,
                        Deadline deadline) {
  std::optional<timespec> left = deadline.RemainingTimespec();
  const timespec* timeout = left ? &*left : nullptr;
  if (strategy == Strategy::kSigmask) return MaskedPpoll(thread, fds, n, timeout);
  if (strategy == Strategy::kEventFd) return EventFdPpoll(thread, fds, n, timeout);
  return GuardedSyscall(strategy, thread, SYS_ppoll,
                        {reinterpret_cast<long>(fds), static_cast<long>(n),
                         reinterpret_cast<long>(timeout), 0, kSigsetSize, 0});
}

// Waits until `fd` has `events`. Success, kStopped, kDeadlineExceeded or kSystem.
Status WaitFd(Strategy strategy, ThreadState& thread, int fd, short events, Deadline deadline,
              const char* call) {
  for (;;) {
    pollfd pfd{fd, events, 0};
    RawResult r = BlockingPpoll(strategy, thread, &pfd, 1, deadline);
    if (r.stopped || (r.value == -EINTR && StopSeen(thread))) return Stopped(call, fd);
    if (r.value > 0) return {};
    if (r.value == 0) return TimedOut(call, fd);
    if (r.value != -EINTR) return FailErrno(Context(call, fd), static_cast<int>(-r.value));
  }
}

// An operation on one descriptor, in two forms: the blocking system call
// (run through the guarded stub) and a non-blocking attempt for after readiness.
struct FdOp {
  const char* name;
  short events;  // the readiness that lets it proceed
  long nr;       // blocking form: nr(args...); args[0] is the descriptor
  long args[6];
  // Non-blocking form: the result, -errno, or kNoNowait where the descriptor has
  // none; nullptr when the operation has none at all (accept).
  long (*nowait)(const FdOp& op);
};

// Outside the -errno range, so a real EOPNOTSUPP (MSG_OOB on UDP) stays an error.
constexpr long kNoNowait = -5000;

long ResultOrErrno(long r) { return r < 0 ? -errno : r; }

// With MSG_DONTWAIT / RWF_NOWAIT the attempt never blocks, even on a blocking
// descriptor and without touching its shared O_NONBLOCK flag.
long RecvNoWait(const FdOp& op) {
  return ResultOrErrno(::recv(static_cast<int>(op.args[0]), reinterpret_cast<void*>(op.args[1]),
                              static_cast<std::size_t>(op.args[2]),
                              static_cast<int>(op.args[3]) | MSG_DONTWAIT));
}

long ReadWriteNoWait(const FdOp& op) {
  iovec iov{reinterpret_cast<void*>(op.args[1]), static_cast<std::size_t>(op.args[2])};
  int fd = static_cast<int>(op.args[0]);
  long r = op.nr == SYS_read ? ::preadv2(fd, &iov, 1, -1, RWF_NOWAIT)
                             : ::pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
  r = ResultOrErrno(r);
  return r == -EOPNOTSUPP ? kNoNowait : r;  // RWF_NOWAIT refused by this descriptor
}

// Files and block devices always poll as ready; RWF_NOWAIT's EAGAIN there means
// "the data is on disk", which no readiness wait will change.
bool AlwaysReady(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

RawResult PlainSyscall(const FdOp& op) {
  return {ResultOrErrno(::syscall(op.nr, op.args[0], op.args[1], op.args[2], op.args[3],
                                  op.args[4], op.args[5])),
          0};
}

// The operation without waiting first: the non-blocking form; for a descriptor
// without one, and only once readiness was seen (`waited`), the blocking form:
// guarded under rseq/signal-pc (stoppable, though it may outlast the deadline),
// plain otherwise (see the caveat in docs/stop.md). -EAGAIN means "wait".
struct AttemptState {
  bool nowait_ok = true;      // the descriptor takes the non-blocking form
  bool file_checked = false;  // AlwaysReady() was asked (at most once per call)
};

RawResult Attempt(Strategy strategy, ThreadState& thread, const FdOp& op, bool waited,
                  AttemptState& state) {
  if (state.nowait_ok && op.nowait != nullptr) {
    long r = op.nowait(op);
    // EAGAIN although readiness was just seen: another thread took it, or the
    // descriptor is a file whose data is on disk.
    bool on_disk = false;
    if (r == -EAGAIN && waited && op.nr != SYS_recvfrom && !state.file_checked) {
      state.file_checked = true;
      on_disk = AlwaysReady(static_cast<int>(op.args[0]));
    }
    if (r != kNoNowait && !on_disk) return {r, 0};
    state.nowait_ok = false;
  }
  if (!waited) return {-EAGAIN, 0};
  if (UsesStub(strategy)) return GuardedSyscall(strategy, thread, op.nr, op.args);
  return PlainSyscall(op);
}

// Runs `op` stoppably. With rseq/signal-pc and no deadline the operation itself
// blocks in the guarded stub: one system call. Otherwise the call attempts the
// operation without blocking and, while that says EAGAIN, waits for readiness
// (with the deadline, under the strategy's guard) and attempts again.
std::expected<long, Error> RunFdOp(const std::stop_token& token, const FdOp& op,
                                   Deadline deadline) {
  ThreadState& thread = CurrentThread();
  int fd = static_cast<int>(op.args[0]);
  auto strategy = Begin(token, thread, op.name, fd);
  if (!strategy) return std::unexpected(strategy.error());
  CallScope scope(token, thread, WakeModeFor(*strategy));
  bool direct = UsesStub(*strategy) && deadline.infinite();
  AttemptState attempt;
  for (bool first = true;; first = false) {
    RawResult r;
    if (direct) {
      r = GuardedSyscall(*strategy, thread, op.nr, op.args);
    } else {
      if (!first) {
        if (auto ready = WaitFd(*strategy, thread, fd, op.events, deadline, op.name); !ready) {
          return std::unexpected(ready.error());
        }
      }
      r = Attempt(*strategy, thread, op, !first, attempt);
    }
    if (r.stopped) return Stopped(op.name, fd);
    if (r.value >= 0) return r.value;
    if (r.value == -EAGAIN) direct = false;
    else if (r.value != -EINTR) return FailErrno(Context(op.name, fd), static_cast<int>(-r.value));
  }
}

long Arg(const void* p) { return reinterpret_cast<long>(p); }

}  // namespace

std::expected<std::size_t, Error> Recv(const std::stop_token& token, int fd, std::span<std::byte> buf,
                                       int flags, Deadline deadline) {
  FdOp op{"recv", POLLIN, SYS_recvfrom,
          {fd, Arg(buf.data()), static_cast<long>(buf.size()), flags, 0, 0}, RecvNoWait};
  return RunFdOp(token, op, deadline);
}

std::expected<std::size_t, Error> Read(const std::stop_token& token, int fd, std::span<std::byte> buf,
                                       Deadline deadline) {
  FdOp op{"read", POLLIN, SYS_read, {fd, Arg(buf.data()), static_cast<long>(buf.size()), 0, 0, 0},
          ReadWriteNoWait};
  return RunFdOp(token, op, deadline);
}

std::expected<std::size_t, Error> Write(const std::stop_token& token, int fd,
                                        std::span<const std::byte> buf, Deadline deadline) {
  FdOp op{"write", POLLOUT, SYS_write,
          {fd, Arg(buf.data()), static_cast<long>(buf.size()), 0, 0, 0}, ReadWriteNoWait};
  return RunFdOp(token, op, deadline);
}

std::expected<UniqueFd, Error> Accept(const std::stop_token& token, int listen_fd, Deadline deadline,
                                      int flags) {
  FdOp op{"accept", POLLIN, SYS_accept4, {listen_fd, 0, 0, flags | SOCK_CLOEXEC, 0, 0}, nullptr};
  auto r = RunFdOp(token, op, deadline);
  if (!r) return std::unexpected(r.error());
  return UniqueFd(static_cast<int>(*r));
}

std::expected<int, Error> Poll(const std::stop_token& token, std::span<pollfd> fds, Deadline deadline) {
  ThreadState& thread = CurrentThread();
  auto strategy = Begin(token, thread, "poll", -1);
  if (!strategy) return std::unexpected(strategy.error());
  CallScope scope(token, thread, WakeModeFor(*strategy));
  for (;;) {
    RawResult r = BlockingPpoll(*strategy, thread, fds.data(), fds.size(), deadline);
    if (r.stopped || (r.value == -EINTR && StopSeen(thread))) return Stopped("poll", -1);
    if (r.value > 0) return static_cast<int>(r.value);
    if (r.value == 0) return TimedOut("poll", -1);
    if (r.value != -EINTR) return FailErrno("poll", static_cast<int>(-r.value));
  }
}

namespace {

RawResult BlockingEpoll(Strategy strategy, ThreadState& thread, int epoll_fd,
                        std::span<epoll_event> events, Deadline deadline) {
  auto n = static_cast<int>(events.size());
  if (strategy == Strategy::kEventFd) {
    // An epoll descriptor is readable while it has events: wait for it next to
    // the stop eventfd, then collect without blocking.
    pollfd p{epoll_fd, POLLIN, 0};
    RawResult w = BlockingPpoll(strategy, thread, &p, 1, deadline);
    if (w.stopped || w.value <= 0) return w;
    int r = ::epoll_wait(epoll_fd, events.data(), n, 0);
    return {r < 0 ? -errno : r, 0};
  }
  int timeout_ms = deadline.RemainingMillis();
  if (strategy != Strategy::kSigmask) {
    return GuardedSyscall(strategy, thread, SYS_epoll_pwait,
                          {epoll_fd, Arg(events.data()), n, timeout_ms, 0, kSigsetSize});
  }
  if (StopSeen(thread)) return {-EINTR, 1};
  internal::RaceWindowSpin(thread.window_spins);
  int r = ::epoll_pwait(epoll_fd, events.data(), n, timeout_ms, &thread.ppoll_mask);
  return {r < 0 ? -errno : r, 0};
}

}  // namespace

std::expected<int, Error> EpollWait(const std::stop_token& token, int epoll_fd,
                                    std::span<epoll_event> events, Deadline deadline) {
  ThreadState& thread = CurrentThread();
  auto strategy = Begin(token, thread, "epoll_wait", epoll_fd);
  if (!strategy) return std::unexpected(strategy.error());
  CallScope scope(token, thread, WakeModeFor(*strategy));
  for (;;) {
    RawResult r = BlockingEpoll(*strategy, thread, epoll_fd, events, deadline);
    if (r.stopped || (r.value == -EINTR && StopSeen(thread))) return Stopped("epoll_wait", epoll_fd);
    if (r.value > 0) return static_cast<int>(r.value);
    // Millisecond rounding can wake a little early: only an expired deadline ends it.
    if (r.value == 0 && deadline.Expired()) return TimedOut("epoll_wait", epoll_fd);
    if (r.value < 0 && r.value != -EINTR) {
      return FailErrno(Context("epoll_wait", epoll_fd), static_cast<int>(-r.value));
    }
  }
}

Status SleepUntil(const std::stop_token& token, Deadline deadline) {
  ThreadState& thread = CurrentThread();
  auto strategy = Begin(token, thread, "sleep", -1);
  if (!strategy) return std::unexpected(strategy.error());
  CallScope scope(token, thread, WakeModeFor(*strategy));
  for (;;) {
    // ppoll with no descriptors sleeps until the timeout or a signal, under
    // every strategy; the deadline is recomputed after each interruption.
    RawResult r = BlockingPpoll(*strategy, thread, nullptr, 0, deadline);
    if (r.stopped || (r.value == -EINTR && StopSeen(thread))) return Stopped("sleep", -1);
    if (r.value == 0 && deadline.Expired()) return {};
    if (r.value < 0 && r.value != -EINTR) return FailErrno("sleep", static_cast<int>(-r.value));
  }
}

namespace {

// kSigmask: wait on the user's word and on this thread's stop word at once; the
// stop callback sets the stop word and wakes it, so no signal is needed and a
// stop before the wait makes the kernel's value check fail at once.
RawResult FutexWaitv(ThreadState& thread, const std::atomic<std::uint32_t>& word,
                     std::uint32_t expected, Deadline deadline, FutexScope scope) {
  futex_waitv waiters[2] = {};
  waiters[0].uaddr = reinterpret_cast<std::uintptr_t>(&word);
  waiters[0].val = expected;
  waiters[0].flags = FUTEX_32 | (scope == FutexScope::kPrivate ? FUTEX_PRIVATE_FLAG : 0);
  waiters[1].uaddr = reinterpret_cast<std::uintptr_t>(&thread.stop_word);
  waiters[1].val = 0;
  waiters[1].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
  std::optional<timespec> at = deadline.AbsoluteTimespec();
  internal::RaceWindowSpin(thread.window_spins);
  long r = ::syscall(SYS_futex_waitv, waiters, 2, 0, at ? &*at : nullptr, CLOCK_MONOTONIC);
  if (r == 1 || StopSeen(thread)) return {-EINTR, 1};
  return {r < 0 ? -errno : 0, 0};
}

RawResult BlockingFutex(Strategy strategy, ThreadState& thread,
                        const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                        Deadline deadline, FutexScope scope) {
  if (!UsesStub(strategy)) return FutexWaitv(thread, word, expected, deadline, scope);
  std::optional<timespec> at = deadline.AbsoluteTimespec();
  long op = FUTEX_WAIT_BITSET | (scope == FutexScope::kPrivate ? FUTEX_PRIVATE_FLAG : 0);
  return GuardedSyscall(strategy, thread, SYS_futex,
                        {Arg(&word), op, static_cast<long>(expected), Arg(at ? &*at : nullptr), 0,
                         static_cast<long>(FUTEX_BITSET_MATCH_ANY)});
}

}  // namespace

Status FutexWait(const std::stop_token& token, const std::atomic<std::uint32_t>& word,
                 std::uint32_t expected, Deadline deadline, FutexScope scope) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == 4);
  ThreadState& thread = CurrentThread();
  auto strategy = Begin(token, thread, "futex_wait", -1);
  if (!strategy) return std::unexpected(strategy.error());
  CallScope call(token, thread, UsesStub(*strategy) ? internal::kWakeSignal : internal::kWakeFutex);
  for (;;) {
    RawResult r = BlockingFutex(*strategy, thread, word, expected, deadline, scope);
    if (r.stopped || (r.value == -EINTR && StopSeen(thread))) return Stopped("futex_wait", -1);
    if (r.value == 0 || r.value == -EAGAIN) return {};  // woken, or the word changed
    if (r.value == -ETIMEDOUT) return TimedOut("futex_wait", -1);
    if (r.value == -ENOSYS) {
      return Fail(ErrorCode::kUnsupported, "futex_wait: futex_waitv needs Linux 5.16 or later");
    }
    if (r.value != -EINTR) return FailErrno("futex_wait", static_cast<int>(-r.value));
  }
}

std::expected<long, Error> SyscallOrStop(const std::stop_token& token, long nr, long a1, long a2, long a3,
                                         long a4, long a5, long a6) {
  ThreadState& thread = CurrentThread();
  auto strategy = Begin(token, thread, "syscall", -1);
  if (!strategy) return std::unexpected(strategy.error());
  if (!UsesStub(*strategy)) {
    return Fail(ErrorCode::kUnsupported,
                "syscall " + std::to_string(nr) +
                    ": a raw stoppable syscall needs the rseq or signal-pc strategy (x86-64)");
  }
  CallScope scope(token, thread, internal::kWakeSignal);
  RawResult r = GuardedSyscall(*strategy, thread, nr, {a1, a2, a3, a4, a5, a6});
  if (r.stopped || (r.value == -EINTR && StopSeen(thread))) return Stopped("syscall", -1);
  if (r.value < 0 && r.value > -4096) {
    return FailErrno("syscall " + std::to_string(nr), static_cast<int>(-r.value));
  }
  return r.value;
}

}  // namespace sv::stop
