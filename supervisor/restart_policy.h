// RestartPolicy: when the supervisor respawns a crashed worker and when a pool
// gives up (FATAL). Pure and deterministic given a seed: no clock reads, no
// system calls; the supervisor's event loop passes the time in.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <unordered_map>

namespace sv::supervisor {

// The exit code a worker uses for a permanent failure (bad config, plugin
// cannot load): restarting cannot help.
inline constexpr int kPermanentExitCode = 100;

// True when a worker's exit code says a restart cannot help: the pool goes
// FATAL at once, without counting against the restart intensity.
bool IsPermanentExit(int exit_code);

// Mirrors the YAML `restart:` block of one pool.
struct RestartSettings {
  std::chrono::nanoseconds backoff_initial = std::chrono::milliseconds(10);
  std::chrono::nanoseconds backoff_max = std::chrono::seconds(5);
  std::chrono::nanoseconds healthy_after = std::chrono::seconds(10);
  std::uint32_t intensity = 10;  // more than `intensity` crashes within `period` -> FATAL
  std::chrono::nanoseconds period = std::chrono::seconds(60);
};

// Decides, for one pool, how long to wait before respawning a worker slot that
// crashed, and when the pool must give up. Not thread-safe: owned by the
// pool's event loop. Memory is bounded: at most intensity + 1 crash times and
// one counter per slot that crashed.
class RestartPolicy {
 public:
  explicit RestartPolicy(RestartSettings settings, std::uint64_t seed = 0);

  struct Decision {
    bool fatal = false;
    std::chrono::nanoseconds delay{0};  // wait this long before respawning; 0 when fatal
    std::string reason;                 // why the pool is FATAL; empty otherwise
  };

  // A worker of `slot` crashed (or failed to start) at `now`, after running
  // `uptime`. Records the crash. Once more than `intensity` crashes fall within
  // the last `period` (a crash at t counts while now - t < period) the pool is
  // FATAL: this and every later call return fatal=true with a reason such as
  // "7 crashes in 60s (intensity 5)", until Reset().
  // Otherwise returns the slot's backoff: backoff_initial doubled once per
  // earlier consecutive crash of the slot, capped at backoff_max, times a
  // uniform jitter factor in [0.8, 1.2], and then clamped to backoff_max again
  // (so the delay never exceeds backoff_max). The doubling restarts from
  // backoff_initial when uptime >= healthy_after.
  // Precondition: `now` never decreases from one call to the next.
  Decision OnCrash(std::uint32_t slot, std::chrono::nanoseconds uptime,
                   std::chrono::steady_clock::time_point now);

  // The worker of `slot` ran healthy_after: its next crash backs off from
  // backoff_initial again.
  void OnHealthy(std::uint32_t slot);

  // Forgets every crash and the FATAL verdict (an operator restarted the pool).
  void Reset();

  // Crashes recorded within the last `period` before `now`.
  std::uint32_t crashes_in_period(std::chrono::steady_clock::time_point now) const;

  bool fatal() const { return !fatal_reason_.empty(); }
  const RestartSettings& settings() const { return settings_; }

 private:
  // Drops crash times that have left the window ending at `now`.
  void Trim(std::chrono::steady_clock::time_point now);
  // backoff_initial * 2^exponent, capped at backoff_max without overflowing.
  std::chrono::nanoseconds Backoff(std::uint32_t exponent) const;
  // `base` scaled by a random factor in [0.8, 1.2], at most backoff_max.
  std::chrono::nanoseconds Jitter(std::chrono::nanoseconds base);

  RestartSettings settings_;
  std::mt19937_64 rng_;
  std::deque<std::chrono::steady_clock::time_point> crash_times_;  // oldest first
  std::unordered_map<std::uint32_t, std::uint32_t> consecutive_;   // slot -> crashes since healthy
  std::string fatal_reason_;  // non-empty once FATAL
};

}  // namespace sv::supervisor
