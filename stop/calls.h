// Stop-aware blocking calls for trusted threads. Each returns the system call's
// result, or Error with code kStopped, and none blocks once a stop was requested:
// a stop that comes before the call makes it return at once, and one that comes
// while it blocks wakes it, with no window between "check" and "block" (see
// stop/strategy.h for how). The thread then returns normally, so destructors run.
//
// The token is a std::stop_token (by reference: copying one costs two atomic
// operations), so std::jthread works as is. During each call
// the library registers a std::stop_callback that wakes this thread; it is gone
// when the call returns. A token with no stop state makes these plain calls.
//
// Results: kStopped (stop requested), kDeadlineExceeded (the deadline passed
// first), kSystem with errno, kClosed (end of file where data was required).
// When a system call has already completed when the stop arrives, its result is
// returned (no data is lost) and the next call returns kStopped.
//
// Threads: any thread may make these calls, one at a time per thread. They are
// not async-signal-safe.
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <stop_token>

#include "base/deadline.h"
#include "base/error.h"
#include "base/unique_fd.h"

namespace sv::stop {

// recv(2). Blocks until data, a stop, or the deadline. `flags` as for recv.
[[nodiscard]] std::expected<std::size_t, Error> Recv(const std::stop_token& token, int fd,
                                                     std::span<std::byte> buf, int flags = 0,
                                                     Deadline deadline = Deadline::Infinite());

// read(2); 0 means end of file.
[[nodiscard]] std::expected<std::size_t, Error> Read(const std::stop_token& token, int fd,
                                                     std::span<std::byte> buf,
                                                     Deadline deadline = Deadline::Infinite());

// write(2); may write less than `buf` like write(2) does.
[[nodiscard]] std::expected<std::size_t, Error> Write(const std::stop_token& token, int fd,
                                                      std::span<const std::byte> buf,
                                                      Deadline deadline = Deadline::Infinite());

// accept4(2); the new descriptor always has SOCK_CLOEXEC, plus `flags`.
[[nodiscard]] std::expected<UniqueFd, Error> Accept(const std::stop_token& token, int listen_fd,
                                                    Deadline deadline = Deadline::Infinite(),
                                                    int flags = 0);

// poll(2) over `fds`; returns how many have events (at least 1), or
// kDeadlineExceeded.
[[nodiscard]] std::expected<int, Error> Poll(const std::stop_token& token, std::span<pollfd> fds,
                                             Deadline deadline = Deadline::Infinite());

// epoll_wait(2); returns how many events were stored (at least 1), or
// kDeadlineExceeded.
[[nodiscard]] std::expected<int, Error> EpollWait(const std::stop_token& token, int epoll_fd,
                                                  std::span<epoll_event> events,
                                                  Deadline deadline = Deadline::Infinite());

// Sleeps until the deadline (success) or a stop (kStopped).
[[nodiscard]] Status SleepUntil(const std::stop_token& token, Deadline deadline);
template <class Rep, class Period>
[[nodiscard]] Status SleepFor(const std::stop_token& token, std::chrono::duration<Rep, Period> d) {
  return SleepUntil(token, Deadline::After(d));
}

enum class FutexScope : std::uint8_t {
  kPrivate,  // the word is only used by threads of this process
  kShared,   // the word may be in memory shared with other processes
};

// FUTEX_WAIT: sleeps while `word` holds `expected`. Success means woken, or the
// word no longer held `expected` (callers re-check the word, as with any futex);
// kDeadlineExceeded when the deadline passed.
[[nodiscard]] Status FutexWait(const std::stop_token& token, const std::atomic<std::uint32_t>& word,
                               std::uint32_t expected, Deadline deadline = Deadline::Infinite(),
                               FutexScope scope = FutexScope::kPrivate);

// Issues system call `nr` unless a stop is requested first; a stop that arrives
// while it blocks interrupts it. Returns the raw return value when it is not an
// error. EINTR from another signal is returned as an error: only the caller knows
// whether its call can be repeated. Needs kRseq or kSignalPc (x86-64); under
// kSigmask or kEventFd it fails with kUnsupported.
[[nodiscard]] std::expected<long, Error> SyscallOrStop(const std::stop_token& token, long nr, long a1 = 0,
                                                       long a2 = 0, long a3 = 0, long a4 = 0,
                                                       long a5 = 0, long a6 = 0);

}  // namespace sv::stop
