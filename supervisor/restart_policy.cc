#include "supervisor/restart_policy.h"

#include <algorithm>

#include "base/error.h"

namespace sv::supervisor {
namespace {

using std::chrono::nanoseconds;

// 1ns doubled this many times exceeds any int64 duration: the exponent stops
// here, which bounds Backoff()'s loop and keeps the counter from wrapping.
constexpr std::uint32_t kMaxExponent = 64;
// Jitter is drawn in steps of 1/kJitterScale of the base delay, within
// +-kJitterSpan steps (20%). Integer arithmetic keeps it exact and portable.
constexpr std::int64_t kJitterScale = 10000;
constexpr std::int64_t kJitterSpan = 2000;

// `d` in the largest unit up to seconds that divides it exactly: "60s",
// "1500ms", "7ns". No minutes: "60s" is how operators read the default period.
std::string FormatDuration(nanoseconds d) {
  struct Unit {
    std::int64_t ns;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1'000'000'000, "s"}, {1'000'000, "ms"}, {1'000, "us"}};
  const std::int64_t n = d.count();
  for (const Unit& unit : kUnits) {
    if (n != 0 && n % unit.ns == 0) return std::to_string(n / unit.ns) + unit.name;
  }
  return n == 0 ? "0s" : std::to_string(n) + "ns";
}

}  // namespace

bool IsPermanentExit(int exit_code) { return exit_code == kPermanentExitCode; }

RestartPolicy::RestartPolicy(RestartSettings settings, std::uint64_t seed)
    : settings_(settings), rng_(seed) {}

RestartPolicy::Decision RestartPolicy::OnCrash(std::uint32_t slot, nanoseconds uptime,
                                               std::chrono::steady_clock::time_point now) {
  if (fatal()) return {.fatal = true, .delay = nanoseconds(0), .reason = fatal_reason_};
  SV_CHECK(crash_times_.empty() || crash_times_.back() <= now);
  Trim(now);
  crash_times_.push_back(now);
  if (crash_times_.size() > settings_.intensity) {
    fatal_reason_ = std::to_string(crash_times_.size()) + " crashes in " +
                    FormatDuration(settings_.period) + " (intensity " +
                    std::to_string(settings_.intensity) + ")";
    return {.fatal = true, .delay = nanoseconds(0), .reason = fatal_reason_};
  }
  std::uint32_t& exponent = consecutive_[slot];
  if (uptime >= settings_.healthy_after) exponent = 0;
  const nanoseconds base = Backoff(exponent);
  exponent = std::min(exponent + 1, kMaxExponent);
  return {.fatal = false, .delay = Jitter(base), .reason = {}};
}

void RestartPolicy::OnHealthy(std::uint32_t slot) { consecutive_.erase(slot); }

void RestartPolicy::Reset() {
  crash_times_.clear();
  consecutive_.clear();
  fatal_reason_.clear();
}

std::uint32_t RestartPolicy::crashes_in_period(std::chrono::steady_clock::time_point now) const {
  // Written as now - t < period rather than t > now - period: the latter
  // overflows for a huge period.
  const auto in_window = [&](auto t) { return t <= now && now - t < settings_.period; };
  return static_cast<std::uint32_t>(std::count_if(crash_times_.begin(), crash_times_.end(), in_window));
}

void RestartPolicy::Trim(std::chrono::steady_clock::time_point now) {
  while (!crash_times_.empty() && now - crash_times_.front() >= settings_.period) {
    crash_times_.pop_front();
  }
}

nanoseconds RestartPolicy::Backoff(std::uint32_t exponent) const {
  const nanoseconds max = std::max(settings_.backoff_max, nanoseconds(0));
  nanoseconds delay = std::clamp(settings_.backoff_initial, nanoseconds(0), max);
  for (std::uint32_t i = 0; i < exponent && delay < max; ++i) {
    delay = delay > max / 2 ? max : delay * 2;
  }
  return delay;
}

nanoseconds RestartPolicy::Jitter(nanoseconds base) {
  // 0 <= base <= backoff_max here, so neither step below can overflow. A base
  // under kJitterScale ns (10us) gets no jitter; nothing needs it there.
  const auto steps = static_cast<std::int64_t>(rng_() % (2 * kJitterSpan + 1)) - kJitterSpan;
  const nanoseconds extra = base / kJitterScale * steps;
  const nanoseconds max = std::max(settings_.backoff_max, nanoseconds(0));
  if (extra > max - base) return max;
  return base + extra;
}

}  // namespace sv::supervisor
