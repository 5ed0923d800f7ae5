// Deadline: an absolute point on the monotonic clock, passed through layers
// instead of timeouts so that retries and nested waits never extend it.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>
#include <optional>

namespace sv {

// steady_clock is CLOCK_MONOTONIC on Linux, so a Deadline converts directly to
// the absolute timespecs that futex(FUTEX_WAIT_BITSET) and clock_nanosleep take.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline Infinite() { return Deadline(Clock::time_point::max()); }
  static Deadline At(Clock::time_point when) { return Deadline(when); }
  template <class Rep, class Period>
  static Deadline After(std::chrono::duration<Rep, Period> d) {
    auto now = Clock::now();
    // Compare in the caller's unit: converting hours::max() to ns would overflow.
    using D = std::chrono::duration<Rep, Period>;
    if (d >= std::chrono::duration_cast<D>(Clock::time_point::max() - now)) return Infinite();
    return Deadline(now + std::chrono::duration_cast<Clock::duration>(d));
  }

  // The absolute CLOCK_MONOTONIC time in nanoseconds, INT64_MAX when infinite:
  // how a deadline crosses a process boundary. FromMonotonicNanos() is its inverse.
  std::int64_t MonotonicNanos() const {
    return infinite() ? INT64_MAX : std::chrono::nanoseconds(when_.time_since_epoch()).count();
  }
  static Deadline FromMonotonicNanos(std::int64_t ns) {
    return ns == INT64_MAX ? Infinite() : At(Clock::time_point(std::chrono::nanoseconds(ns)));
  }

  bool infinite() const { return when_ == Clock::time_point::max(); }
  Clock::time_point when() const { return when_; }
  bool Expired() const { return !infinite() && Clock::now() >= when_; }
  // Time left, never negative; Clock::duration::max() when infinite.
  Clock::duration Remaining() const;
  // The absolute CLOCK_MONOTONIC time; nullopt when infinite.
  std::optional<timespec> AbsoluteTimespec() const;
  // The time left as a relative timespec (zero once expired); nullopt when infinite.
  std::optional<timespec> RemainingTimespec() const;
  // The time left in whole milliseconds rounded up, for poll/epoll; -1 when infinite.
  int RemainingMillis() const;

  friend bool operator==(Deadline, Deadline) = default;
  friend auto operator<=>(Deadline a, Deadline b) { return a.when_ <=> b.when_; }

 private:
  explicit Deadline(Clock::time_point when) : when_(when) {}

  Clock::time_point when_;
};

}  // namespace sv
