// `status`: reading pool JSON, formatting rows, the exit code.
#include "ctl/status.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "ctl/commands.h"
#include "ctl/internal/json.h"

namespace sv::ctl {
namespace {

using internal::Json;

// A field missing or of the wrong type; caught where parsing started.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const Json& Field(const Json& object, std::string_view key) {
  const Json* value = object.Find(key);
  if (value == nullptr) throw FieldError("missing field \"" + std::string(key) + "\"");
  return *value;
}

std::string String(const Json& object, std::string_view key) {
  const Json& value = Field(object, key);
  if (value.type == Json::Type::kNull) return "";
  if (value.type != Json::Type::kString) throw FieldError("field \"" + std::string(key) + "\" is not a string");
  return value.string;
}

std::int64_t Integer(const Json& object, std::string_view key, bool required = true) {
  if (!required && object.Find(key) == nullptr) return 0;
  const Json& value = Field(object, key);
  if (value.type != Json::Type::kNumber || !value.integral) {
    throw FieldError("field \"" + std::string(key) + "\" is not an integer");
  }
  return value.integer;
}

std::uint64_t Count(const Json& object, std::string_view key, bool required = true) {
  const std::int64_t value = Integer(object, key, required);
  if (value < 0) throw FieldError("field \"" + std::string(key) + "\" is negative");
  return static_cast<std::uint64_t>(value);
}

const Json& ObjectIn(const Json& value, std::string_view what) {
  if (value.type != Json::Type::kObject) throw FieldError(std::string(what) + " is not a JSON object");
  return value;
}

const std::vector<Json>& ArrayField(const Json& object, std::string_view key) {
  const Json& value = Field(object, key);
  if (value.type != Json::Type::kArray) throw FieldError("field \"" + std::string(key) + "\" is not an array");
  return value.items;
}

WorkerStatus ReadWorker(const Json& object) {
  WorkerStatus worker;
  worker.slot = static_cast<std::uint32_t>(Count(object, "slot"));
  worker.id = String(object, "id");
  worker.state = String(object, "state");
  worker.pid = Integer(object, "pid");
  worker.uptime_ms = Integer(object, "uptime_ms", false);
  worker.calls = Count(object, "calls", false);
  if (object.Find("last_exit") != nullptr) worker.last_exit = String(object, "last_exit");
  return worker;
}

PoolStatus ReadPool(const Json& object) {
  PoolStatus pool;
  pool.name = String(object, "name");
  pool.state = String(object, "state");
  pool.desired_workers = Count(object, "desired_workers");
  pool.ready_workers = Count(object, "ready_workers");
  pool.waiting_callers = Count(object, "waiting_callers", false);
  pool.calls = Count(object, "calls", false);
  pool.restarts = Count(object, "restarts", false);
  if (object.Find("last_error") != nullptr) pool.last_error = String(object, "last_error");
  const std::vector<Json>& workers = ArrayField(object, "workers");
  pool.workers.reserve(workers.size());
  for (const Json& worker : workers) pool.workers.push_back(ReadWorker(ObjectIn(worker, "a worker")));
  return pool;
}

// Runs `read` over the parsed document; every failure becomes one sentence.
template <class T, class Read>
std::expected<T, std::string> ParseWith(std::string_view json, Read read) {
  auto root = internal::ParseJson(json);
  if (!root) return std::unexpected("unexpected answer from the daemon: " + root.error());
  try {
    return read(ObjectIn(*root, "the answer"));
  } catch (const FieldError& e) {
    return std::unexpected(std::string("unexpected answer from the daemon: ") + e.what());
  }
}

bool IsRunningState(std::string_view state) { return state == "READY" || state == "BUSY"; }

std::string WorkerDescription(const WorkerStatus& worker) {
  std::string text;
  if (worker.pid > 0) text = "pid " + std::to_string(worker.pid);
  if (IsRunningState(worker.state)) {
    text += ", uptime " + FormatUptime(std::chrono::milliseconds(worker.uptime_ms));
  } else if (!worker.last_exit.empty()) {
    text += (text.empty() ? "" : ", ") + worker.last_exit;
  }
  return text;
}

std::string Plural(std::uint64_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

std::string PoolDescription(const PoolStatus& pool) {
  std::string text = std::to_string(pool.ready_workers) + "/" + std::to_string(pool.desired_workers) + " ready, " +
                     Plural(pool.calls, "call");
  if (pool.waiting_callers > 0) text += ", " + std::to_string(pool.waiting_callers) + " waiting";
  if (pool.restarts > 0) text += ", " + Plural(pool.restarts, "restart");
  if (!pool.last_error.empty()) text += "; last error: " + pool.last_error;
  return text;
}

StatusLine WorkerLine(const PoolStatus& pool, const WorkerStatus& worker) {
  std::string name = worker.id.empty() ? pool.name + ":" + std::to_string(worker.slot) : worker.id;
  return {std::move(name), worker.state, WorkerDescription(worker)};
}

}  // namespace

std::expected<PoolStatus, std::string> ParsePoolStatus(std::string_view json) {
  return ParseWith<PoolStatus>(json, [](const Json& root) { return ReadPool(root); });
}

std::expected<std::vector<PoolStatus>, std::string> ParsePoolList(std::string_view json) {
  return ParseWith<std::vector<PoolStatus>>(json, [](const Json& root) {
    const std::vector<Json>& pools = ArrayField(root, "pools");
    std::vector<PoolStatus> result;
    result.reserve(pools.size());
    for (const Json& pool : pools) result.push_back(ReadPool(ObjectIn(pool, "a pool")));
    return result;
  });
}

std::string FormatUptime(std::chrono::milliseconds uptime) {
  const std::int64_t total = std::max<std::int64_t>(0, uptime.count() / 1000);
  const std::int64_t days = total / 86400, hours = total % 86400 / 3600;
  char clock[32];
  std::snprintf(clock, sizeof clock, "%lld:%02lld:%02lld", static_cast<long long>(hours),
                static_cast<long long>(total % 3600 / 60), static_cast<long long>(total % 60));
  if (days == 0) return clock;
  return std::to_string(days) + (days == 1 ? " day, " : " days, ") + clock;
}

std::optional<std::vector<StatusLine>> StatusLines(const PoolStatus& pool, std::optional<std::uint32_t> slot) {
  std::vector<StatusLine> lines;
  if (slot) {
    for (const WorkerStatus& worker : pool.workers) {
      if (worker.slot == *slot) return std::vector<StatusLine>{WorkerLine(pool, worker)};
    }
    return std::nullopt;
  }
  lines.reserve(pool.workers.size() + 1);
  lines.push_back({pool.name, pool.state, PoolDescription(pool)});
  for (const WorkerStatus& worker : pool.workers) lines.push_back(WorkerLine(pool, worker));
  return lines;
}

std::string FormatStatusTable(const std::vector<StatusLine>& lines) {
  std::size_t name_width = 0, state_width = 0;
  for (const StatusLine& line : lines) {
    name_width = std::max(name_width, line.name.size());
    state_width = std::max(state_width, line.state.size());
  }
  std::string text;
  text.reserve(lines.size() * (name_width + state_width + 32));
  for (const StatusLine& line : lines) {
    text += line.name;
    text.append(name_width - line.name.size() + 3, ' ');
    text += line.state;
    if (!line.description.empty()) {
      text.append(state_width - line.state.size() + 3, ' ');
      text += line.description;
    }
    text += '\n';
  }
  return text;
}

bool IsRunning(const PoolStatus& pool, std::optional<std::uint32_t> slot) {
  bool found = false;
  for (const WorkerStatus& worker : pool.workers) {
    if (slot && worker.slot != *slot) continue;
    found = true;
    if (!IsRunningState(worker.state)) return false;
  }
  if (slot) return found;
  return pool.state == "RUNNING";
}

int StatusExitCode(bool any_unknown, bool all_running) {
  if (any_unknown) return kExitUnknown;
  return all_running ? kExitOk : kExitNotRunning;
}

}  // namespace sv::ctl
