// Per-thread state, the call-scoped wake-up, and the raw guarded syscall.
#include "stop/internal/thread_state.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#if defined(__x86_64__)
#include <sys/rseq.h>
#endif

namespace sv::stop::internal {

#if defined(__x86_64__)
extern "C" RawResult sv_stop_rseq_syscall(SyscallFrame* frame);
extern "C" RawResult sv_stop_pc_syscall(SyscallFrame* frame);
#endif

namespace {

// constinit: no lazy TLS initialiser, so the signal handler may touch it.
constinit thread_local ThreadState tls_thread;

#if defined(__x86_64__)
constexpr std::uint32_t kRseqSignature = 0x53053053;  // RSEQ_SIG, also in the .S file

// glibc 2.35+ keeps an rseq area in every thread's TCB at __rseq_offset and
// registers it unless told not to (__rseq_size == 0 then). When it did not, the
// area is still there and unregistered, so this thread may register it itself.
// A non-negative cpu_id means the area is registered: glibc writes a negative
// one into threads it does not register, and registers a new thread (with the
// same RSEQ_SIG) whenever its creator is registered, even one we registered.
bool RegisterRseq(ThreadState& thread) {
  auto* area = reinterpret_cast<struct rseq*>(static_cast<char*>(__builtin_thread_pointer()) +
                                              __rseq_offset);
  bool registered = static_cast<std::int32_t>(area->cpu_id) >= 0;
  if (!registered &&
      syscall(SYS_rseq, area, sizeof(struct rseq), 0, kRseqSignature) != 0) {
    return false;
  }
  thread.rseq_cs = reinterpret_cast<std::uint64_t*>(&area->rseq_cs);
  return true;
}
#endif

}  // namespace

ThreadState& CurrentThread() {
  ThreadState& thread = tls_thread;
  if (thread.tid == 0) thread.tid = static_cast<pid_t>(syscall(SYS_gettid));
  return thread;
}

namespace {

// Closes the thread's stop eventfd when the thread exits. Separate from
// ThreadState, which must stay constant-initialised for the signal handler.
struct StopFdOwner {
  int fd = -1;
  ~StopFdOwner() {
    if (fd < 0) return;
    ::close(fd);
    tls_thread.stop_fd = kStopFdGone;
    tls_thread.stop_fd_written.store(false, std::memory_order_relaxed);
  }
};
thread_local StopFdOwner tls_stop_fd;

}  // namespace

// The child's copy of the forking thread has a new tid, and must not share the
// parent's stop eventfd (one open file: a stop on either side would wake both).
// Eventfds of the parent's other threads stay open in the child until exec
// (they are close-on-exec); nothing in the child writes or polls them.
void ResetThreadAfterFork() {
  tls_thread.tid = 0;
  if (tls_thread.stop_fd >= 0) ::close(tls_thread.stop_fd);
  tls_thread.stop_fd = tls_stop_fd.fd = -1;
  tls_thread.stop_fd_written.store(false, std::memory_order_relaxed);
}

int StopFd(ThreadState& thread) {
  if (thread.stop_fd == kStopFdGone) {
    errno = EBADF;
    return -1;
  }
  if (thread.stop_fd < 0) {
    thread.stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    tls_stop_fd.fd = thread.stop_fd;
  }
  return thread.stop_fd;
}

namespace {

// A stop of an earlier call left the eventfd readable: empty it before the
// next call registers its callback (that earlier callback is gone by now).
void DrainStopFd(ThreadState& thread) {
  if (!thread.stop_fd_written.exchange(false, std::memory_order_acquire)) return;
  std::uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(thread.stop_fd, &count, sizeof count);
}

}  // namespace

void CallScope::Waker::operator()() const noexcept {
  int saved_errno = errno;
  thread->stop_word.store(1, std::memory_order_seq_cst);
  if (mode & kWakeEventFd) {
    thread->stop_fd_written.store(true, std::memory_order_release);
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(thread->stop_fd, &one, sizeof one);
  }
  if (mode & kWakeFutex) {
    syscall(SYS_futex, &thread->stop_word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  }
  if (mode & kWakeSignal) syscall(SYS_tgkill, ProcessId(), thread->tid, Signal());
  errno = saved_errno;
}

const std::stop_token& CallScope::ResetFirst(const std::stop_token& token, ThreadState& thread) {
  thread.stop_word.store(0, std::memory_order_relaxed);
  DrainStopFd(thread);
  return token;
}

// The callback is registered after the reset (ResetFirst runs first), so a stop
// of this token always leaves stop_word == 1.
CallScope::CallScope(const std::stop_token& token, ThreadState& thread, std::uint8_t wake_mode)
    : flush_{&thread, wake_mode}, callback_(ResetFirst(token, thread), Waker{&thread, wake_mode}) {}

// Only after a stop. Unblocked, any system call takes a pending signal on its
// way out (getppid is the cheapest); blocked (sigmask), sigtimedwait dequeues it.
CallScope::PendingWakeFlush::~PendingWakeFlush() {
  if (!(mode & kWakeSignal) || thread->stop_word.load(std::memory_order_relaxed) == 0) return;
  if (thread->mask == MaskState::kUnblocked) {
    syscall(SYS_getppid);
  } else if (thread->mask == MaskState::kBlocked) {
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, Signal());
    const timespec zero{};
    int saved_errno = errno;
    sigtimedwait(&wake, nullptr, &zero);
    errno = saved_errno;
  }
}

void EnsureMask(ThreadState& thread, MaskState wanted) {
  if (thread.mask == wanted) return;
  sigset_t wake, old;
  sigemptyset(&wake);
  sigaddset(&wake, Signal());
  int how = wanted == MaskState::kBlocked ? SIG_BLOCK : SIG_UNBLOCK;
  SV_CHECK(pthread_sigmask(how, &wake, &old) == 0);
  thread.ppoll_mask = old;
  sigdelset(&thread.ppoll_mask, Signal());
  thread.mask = wanted;
}

std::uint64_t* RseqField(ThreadState& thread) {
#if defined(__x86_64__)
  if (thread.rseq == RseqState::kUnknown) {
    thread.rseq = RegisterRseq(thread) ? RseqState::kUsable : RseqState::kUnusable;
  }
#endif
  return thread.rseq_cs;
}

bool HaveStubs() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

RawResult GuardedSyscall(Strategy strategy, ThreadState& thread, long nr, const long (&args)[6]) {
#if defined(__x86_64__)
  SyscallFrame frame{&thread.stop_word, nullptr, thread.rseq_aborts, thread.window_spins, nr,
                     {args[0], args[1], args[2], args[3], args[4], args[5]}, &thread.in_pc_stub};
  if (strategy == Strategy::kRseq) {
    frame.rseq_cs = RseqField(thread);
    if (frame.rseq_cs != nullptr) return sv_stop_rseq_syscall(&frame);
  }
  return sv_stop_pc_syscall(&frame);
#else
  (void)strategy, (void)thread, (void)nr, (void)args;
  SV_CHECK(!"guarded syscalls need the x86-64 stubs");
  return {};
#endif
}

}  // namespace sv::stop::internal
