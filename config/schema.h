// The typed form of pools.yaml: the supervisor's own settings and one PoolConfig
// per pool, with every default. docs/config.md documents each key; keep the two
// in step. Plain values, used by the trusted process (supervisor, tools).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/units.h"

namespace sv::config {

// Where something is in the config file: 1-based; {0, 0} when unknown (a
// default, or the file as a whole).
struct SourcePosition {
  int line = 0;
  int column = 0;
  bool operator==(const SourcePosition&) const = default;
};

// Poco's priorities, most verbose first.
enum class LogLevel : std::uint8_t { kTrace, kDebug, kInformation, kNotice, kWarning, kError, kCritical, kFatal };
// The spellings pools.yaml uses, indexed by LogLevel.
inline constexpr std::array<std::string_view, 8> kLogLevelNames = {"trace",   "debug", "information", "notice",
                                                                   "warning", "error", "critical",    "fatal"};
std::string_view LogLevelName(LogLevel level);

// The `supervisor:` section: the daemon itself.
struct SupervisorSettings {
  // Absolute once loaded; the default is <config dir>/run/supervisor.sock.
  std::filesystem::path control_socket;
  std::uint32_t socket_mode = 0600;
  std::optional<std::string> socket_group;        // group owning the socket; unset: the daemon's
  std::optional<std::filesystem::path> log_file;  // unset: standard error
  LogLevel log_level = LogLevel::kInformation;
  std::optional<ListenAddress> metrics_listen;  // unset: no metrics endpoint

  bool operator==(const SupervisorSettings&) const = default;
};

// How a pool restarts workers that died. Backoff doubles from backoff_initial
// up to backoff_max, and resets once a worker has lived healthy_after. More than
// `intensity` restarts within `period` mark the pool failed (Erlang's rule).
struct RestartPolicy {
  std::chrono::nanoseconds backoff_initial = std::chrono::milliseconds(100);
  std::chrono::nanoseconds backoff_max = std::chrono::seconds(30);
  std::chrono::nanoseconds healthy_after = std::chrono::seconds(10);
  std::uint32_t intensity = 10;
  std::chrono::nanoseconds period = std::chrono::seconds(60);

  bool operator==(const RestartPolicy&) const = default;
};

// When a worker is replaced by a fresh one although it is healthy.
struct RecyclePolicy {
  std::uint64_t after_calls = 0;         // 0: never
  std::uint32_t jitter_percent = 10;     // after_calls varies by up to this much per worker
  std::optional<std::uint64_t> max_rss;  // bytes; unset: no limit

  bool operator==(const RecyclePolicy&) const = default;
};

// rlimits sv-worker sets on itself before loading the plugin; unset: inherited.
struct ResourceLimits {
  std::optional<std::uint64_t> address_space;    // RLIMIT_AS, bytes
  std::optional<std::chrono::seconds> cpu_time;  // RLIMIT_CPU
  std::optional<std::uint64_t> open_files;       // RLIMIT_NOFILE

  bool operator==(const ResourceLimits&) const = default;
};

// How long a channel waiter spins before sleeping (see ipc/spin.h).
struct SpinSetting {
  enum class Mode : std::uint8_t {
    kAuto,   // ipc's adaptive policy with its default budget
    kOff,    // never spin
    kFixed,  // always spin `budget`
  };
  Mode mode = Mode::kAuto;
  std::chrono::nanoseconds budget{0};  // kFixed only; positive

  bool operator==(const SpinSetting&) const = default;
};

// The shared-memory channel between the supervisor and each worker.
struct ChannelSettings {
  std::uint64_t request = 1 << 20;   // input bytes per call
  std::uint64_t response = 4 << 20;  // output bytes per call
  SpinSetting spin;

  bool operator==(const ChannelSettings&) const = default;
};

// One entry under `pools:`.
struct PoolConfig {
  std::string name;
  std::filesystem::path plugin;                                    // absolute once loaded
  SourcePosition plugin_position;                                  // of the `plugin` value, for problems found later
  std::vector<std::pair<std::string, std::string>> plugin_config;  // in file order
  std::uint32_t workers = 1;
  std::uint32_t spare_workers = 0;  // started beyond `workers`, kept warm
  bool autostart = true;
  std::chrono::nanoseconds call_timeout = std::chrono::seconds(30);
  std::uint32_t max_queue = 64;  // callers waiting for a free worker; 0: none wait
  std::chrono::nanoseconds start_timeout = std::chrono::seconds(5);
  std::chrono::nanoseconds stop_timeout = std::chrono::seconds(2);  // SIGTERM to SIGKILL
  RestartPolicy restart;
  RecyclePolicy recycle;
  ResourceLimits limits;
  ChannelSettings channel;
  std::map<std::string, std::string> env;  // added to the worker's environment

  // Exact, plugin_position included; config::Diff ignores positions.
  bool operator==(const PoolConfig&) const = default;
};

// A whole pools.yaml.
struct Config {
  std::string path;  // the file as the user named it, for messages
  SupervisorSettings supervisor;
  std::map<std::string, PoolConfig> pools;

  bool operator==(const Config&) const = default;
};

// Schema limits, shared by the parser and docs/config.md.
inline constexpr std::uint32_t kMaxWorkers = 10000;  // workers + spare_workers
inline constexpr std::uint32_t kMaxQueue = 1'000'000;
inline constexpr std::uint64_t kMinChannelArea = 4 << 10;                            // a page: smaller saves nothing
inline constexpr std::uint64_t kMaxChannelArea = 1 << 30;                            // ipc::kMaxCapacity
inline constexpr std::chrono::nanoseconds kMaxSpin = std::chrono::milliseconds(10);  // a spin keeps a core busy
inline constexpr std::uint64_t kMaxOpenFiles = 1 << 20;                              // Linux's default fs.nr_open
inline constexpr std::size_t kMaxPoolNameSize = 64;
inline constexpr std::size_t kMaxSocketPathSize = 107;  // sun_path less its NUL

}  // namespace sv::config
