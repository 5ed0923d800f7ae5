#include "ipc/internal/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

namespace sv::ipc::internal {
namespace {

std::uintptr_t Address(const std::atomic<std::uint32_t>& word) {
  return reinterpret_cast<std::uintptr_t>(&word);
}

Status Check(long rc) {
  if (rc >= 0) return {};
  if (errno == EAGAIN || errno == EINTR) return {};
  if (errno == ETIMEDOUT) return Fail(ErrorCode::kDeadlineExceeded, "futex wait: deadline exceeded");
  return FailErrno("futex wait", errno);
}

// The pre-5.16 fallback: a plain shared FUTEX_WAIT with at most 1 ms to sleep.
Status WaitSlice(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) {
  auto slice = std::min<Deadline::Clock::duration>(deadline.Remaining(), std::chrono::milliseconds(1));
  if (slice <= Deadline::Clock::duration::zero()) {
    return Fail(ErrorCode::kDeadlineExceeded, "futex wait: deadline exceeded");
  }
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(slice).count();
  timespec rel{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  long rc = syscall(SYS_futex, Address(word), FUTEX_WAIT, expected, &rel, nullptr, 0);
  if (rc != 0 && errno == ETIMEDOUT) return {};  // the slice, not the deadline, ran out
  return Check(rc);
}

}  // namespace

void WakeShared(const std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, Address(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void WakePrivate(const std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, Address(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, nullptr, nullptr, 0);
}

Status WaitSharedOrDead(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                        const std::atomic<std::uint32_t>& dead, Deadline deadline) {
  static std::atomic<bool> no_waitv{false};
  if (!no_waitv.load(std::memory_order_relaxed)) {
    futex_waitv waiters[2] = {
        {.val = expected, .uaddr = Address(word), .flags = FUTEX_32, .__reserved = 0},
        {.val = 0, .uaddr = Address(dead), .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG, .__reserved = 0},
    };
    std::optional<timespec> abs = deadline.AbsoluteTimespec();
    long rc = syscall(SYS_futex_waitv, waiters, 2, 0, abs ? &*abs : nullptr, CLOCK_MONOTONIC);
    if (rc >= 0 || errno != ENOSYS) return Check(rc);
    no_waitv.store(true, std::memory_order_relaxed);
  }
  if (dead.load(std::memory_order_acquire) != 0) return {};
  return WaitSlice(word, expected, deadline);
}

}  // namespace sv::ipc::internal
