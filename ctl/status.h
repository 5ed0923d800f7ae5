// `supervisorctl status`: the daemon's pool JSON (docs/api.md) read into plain
// structs, printed in supervisord's shape, and the LSB exit code. Pure
// functions; runs in the supervisorctl process.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sv::ctl {

struct WorkerStatus {
  std::uint32_t slot = 0;
  std::string id;     // "zlib:0"
  std::string state;  // READY, BUSY, STARTING, ...
  std::int64_t pid = 0;
  std::int64_t uptime_ms = 0;
  std::uint64_t calls = 0;
  std::string last_exit;  // empty when null
};

struct PoolStatus {
  std::string name;
  std::string state;  // RUNNING, STOPPING, STOPPED, FATAL
  std::uint64_t desired_workers = 0;
  std::uint64_t ready_workers = 0;
  std::uint64_t waiting_callers = 0;
  std::uint64_t calls = 0;
  std::uint64_t restarts = 0;
  std::string last_error;
  std::vector<WorkerStatus> workers;
};

// One pool object (`GET /v1/pools/<pool>`). Fields the client does not show
// are ignored; a missing or mistyped field it shows is an error naming it.
[[nodiscard]] std::expected<PoolStatus, std::string> ParsePoolStatus(std::string_view json);
// `{"pools": [...]}` (`GET /v1/pools`).
[[nodiscard]] std::expected<std::vector<PoolStatus>, std::string> ParsePoolList(std::string_view json);

// One row of the table: "zlib:0", "READY", "pid 4101, uptime 0:01:02".
struct StatusLine {
  std::string name;
  std::string state;
  std::string description;
  bool operator==(const StatusLine&) const = default;
};

// "0:01:02", "26:00:00" is "1 day, 2:00:00" (supervisord's form). Negative: 0.
std::string FormatUptime(std::chrono::milliseconds uptime);

// The pool's summary row, then one row per worker; only the worker `slot`
// when set (nullopt when the pool has no such slot).
std::optional<std::vector<StatusLine>> StatusLines(const PoolStatus& pool, std::optional<std::uint32_t> slot = {});

// The rows as aligned columns, one per line, each ending in "\n".
std::string FormatStatusTable(const std::vector<StatusLine>& lines);

// Whether the pool (or its worker `slot`) counts as running for the exit
// code: every worker READY or BUSY, and a whole pool RUNNING as well.
bool IsRunning(const PoolStatus& pool, std::optional<std::uint32_t> slot = {});

// supervisord's LSB rule: kExitUnknown when a name was unknown, else
// kExitNotRunning when something is not running, else kExitOk.
int StatusExitCode(bool any_unknown, bool all_running);

}  // namespace sv::ctl
