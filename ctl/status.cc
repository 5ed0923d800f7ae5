// `status`: reading pool JSON, formatting rows, the exit code.
#include "ctl/status.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ctl/commands.h"

namespace sv::ctl {
namespace {

using Json = nlohmann::ordered_json;

// A field missing or of the wrong type; caught where parsing started.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const Json& Field(const Json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end()) throw FieldError("missing field \"" + std::string(key) + "\"");
  return *it;
}

std::string String(const Json& object, std::string_view key) {
  const Json& value = Field(object, key);
  if (value.is_null()) return "";
  if (!value.is_string()) throw FieldError("field \"" + std::string(key) + "\" is not a string");
  return value.get_ref<const std::string&>();
}

// nlohmann keeps non-negative integers as uint64; above INT64_MAX is not ours.
bool IsInt64(const Json& value) {
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  }
  return value.is_number_integer();
}

std::int64_t Integer(const Json& object, std::string_view key, bool required = true) {
  if (!required && !object.contains(key)) return 0;
  const Json& value = Field(object, key);
  if (!IsInt64(value)) throw FieldError("field \"" + std::string(key) + "\" is not an integer");
  return value.get<std::int64_t>();
}

std::uint64_t Count(const Json& object, std::string_view key, bool required = true) {
  const std::int64_t value = Integer(object, key, required);
  if (value < 0) throw FieldError("field \"" + std::string(key) + "\" is negative");
  return static_cast<std::uint64_t>(value);
}

const Json& ObjectIn(const Json& value, std::string_view what) {
  if (!value.is_object()) throw FieldError(std::string(what) + " is not a JSON object");
  return value;
}

const Json& ArrayField(const Json& object, std::string_view key) {
  const Json& value = Field(object, key);
  if (!value.is_array()) throw FieldError("field \"" + std::string(key) + "\" is not an array");
  return value;
}

WorkerStatus ReadWorker(const Json& object) {
  WorkerStatus worker;
  worker.slot = static_cast<std::uint32_t>(Count(object, "slot"));
  worker.id = String(object, "id");
  worker.state = String(object, "state");
  worker.pid = Integer(object, "pid");
  worker.uptime_ms = Integer(object, "uptime_ms", false);
  worker.calls = Count(object, "calls", false);
  if (object.contains("last_exit")) worker.last_exit = String(object, "last_exit");
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
  if (object.contains("last_error")) pool.last_error = String(object, "last_error");
  const Json& workers = ArrayField(object, "workers");
  pool.workers.reserve(workers.size());
  for (const Json& worker : workers) pool.workers.push_back(ReadWorker(ObjectIn(worker, "a worker")));
  return pool;
}

// Reads nothing; keeps where and why the text stopped being JSON. Used only
// once the non-throwing parse has said the text is broken, to say where.
class ErrorFinder final : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  // `position` counts the bytes read, the offending one included.
  bool parse_error(std::size_t position, const std::string&, const nlohmann::json::exception& error) override {
    const std::string_view what = error.what();
    const std::size_t colon = what.find(": ");  // after nlohmann's "[json.exception...] parse error at ..."
    error_ = "invalid JSON at byte " + std::to_string(position > 0 ? position - 1 : 0) + ": " +
             std::string(colon == std::string_view::npos ? what : what.substr(colon + 2));
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  std::string error_ = "invalid JSON";
};

std::string WhyNotJson(std::string_view text) {
  ErrorFinder finder;
  (void)Json::sax_parse(text, &finder);
  return finder.error();
}

// Runs `read` over the parsed document; every failure becomes one sentence.
template <class T, class Read>
std::expected<T, std::string> ParseWith(std::string_view json, Read read) {
  const Json root = Json::parse(json, nullptr, false);
  if (root.is_discarded()) return std::unexpected("unexpected answer from the daemon: " + WhyNotJson(json));
  try {
    return read(ObjectIn(root, "the answer"));
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
    const Json& pools = ArrayField(root, "pools");
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
