#include "base/deadline.h"

#include <climits>

namespace sv {
namespace {

timespec ToTimespec(std::chrono::nanoseconds ns) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(ns);
  return timespec{static_cast<time_t>(secs.count()),
                  static_cast<long>((ns - secs).count())};
}

}  // namespace

Deadline::Clock::duration Deadline::Remaining() const {
  if (infinite()) return Clock::duration::max();
  auto left = when_ - Clock::now();
  return left > Clock::duration::zero() ? left : Clock::duration::zero();
}

std::optional<timespec> Deadline::AbsoluteTimespec() const {
  if (infinite()) return std::nullopt;
  return ToTimespec(when_.time_since_epoch());
}

std::optional<timespec> Deadline::RemainingTimespec() const {
  if (infinite()) return std::nullopt;
  return ToTimespec(Remaining());
}

int Deadline::RemainingMillis() const {
  if (infinite()) return -1;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Remaining()).count();
  long long ms = (ns + 999'999) / 1'000'000;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace sv
