#include "daemon/json.h"

#include <chrono>

namespace sv::daemon {

std::string Stringify(const JsonValue& value) {
  return value.dump(-1, ' ', false, JsonValue::error_handler_t::replace) + "\n";
}

namespace {

// Built member by member: an initializer list would copy every value once more
// (a thousand workers make a status answer).
JsonValue WorkerJson(const std::string& pool, const supervisor::WorkerStatus& w) {
  JsonValue o = JsonValue::object();
  o["id"] = pool + ":" + std::to_string(w.slot);
  o["slot"] = w.slot;
  o["state"] = supervisor::WorkerStateName(w.state);
  o["pid"] = w.pid;
  o["uptime_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(w.uptime).count();
  o["calls"] = w.calls;
  o["generation"] = w.generation;
  o["rss_bytes"] = w.rss_bytes;
  o["last_exit"] = w.last_exit ? JsonValue(w.last_exit->ToString()) : JsonValue(nullptr);
  return o;
}

std::uint32_t ReadyWorkers(const supervisor::PoolStatus& pool) {
  std::uint32_t ready = 0;
  for (const auto& w : pool.workers) {
    if (w.state == supervisor::WorkerState::kReady || w.state == supervisor::WorkerState::kBusy) ++ready;
  }
  return ready;
}

}  // namespace

JsonValue PoolJson(const supervisor::PoolStatus& pool) {
  JsonValue workers = JsonValue::array();
  workers.get_ref<JsonValue::array_t&>().reserve(pool.workers.size());
  for (const auto& w : pool.workers) workers.push_back(WorkerJson(pool.name, w));
  JsonValue failures = JsonValue::object();
  for (const auto& [kind, count] : pool.failures) failures[kind] = count;
  return {
      {"name", pool.name},
      {"state", supervisor::PoolStateName(pool.state)},
      {"desired_workers", pool.desired_workers},
      {"ready_workers", ReadyWorkers(pool)},
      {"waiting_callers", pool.waiting_callers},
      {"calls", pool.calls},
      {"failures", std::move(failures)},
      {"restarts", pool.restarts},
      {"kills", pool.kills},
      {"last_error", pool.last_error},
      {"kill_scope", pool.kill_scope},
      {"spawner", pool.spawner},
      {"zygote_pid", pool.zygote_pid},
      {"logs_dropped", {{"stdout", pool.stdout_log.dropped}, {"stderr", pool.stderr_log.dropped}}},
      {"workers", std::move(workers)},
  };
}

JsonValue StopReportJson(const supervisor::StopReport& report) {
  JsonValue workers = JsonValue::array();
  for (const auto& entry : report.workers) {
    workers.push_back(
        {{"slot", entry.slot}, {"pid", entry.pid}, {"outcome", supervisor::StopOutcomeName(entry.outcome)}});
  }
  return {{"pool", report.pool}, {"workers", std::move(workers)}};
}

std::expected<JsonValue, std::string> ParseObject(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return JsonValue::object();
  JsonValue parsed = JsonValue::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::unexpected("the body is not valid JSON");
  if (!parsed.is_object()) return std::unexpected("the body is not a JSON object");
  return parsed;
}

std::expected<std::optional<std::int64_t>, std::string> IntMember(const JsonValue& object, const std::string& key,
                                                                   std::int64_t max) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_number_integer()) return std::unexpected("'" + key + "' must be an integer");
  const bool negative = it->is_number_unsigned() ? false : it->get<std::int64_t>() < 0;
  const bool too_big = it->is_number_unsigned() ? it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)
                                                : it->get<std::int64_t>() > max;
  if (negative || too_big) {
    return std::unexpected("'" + key + "' must be from 0 to " + std::to_string(max) + ", got " + it->dump());
  }
  return it->get<std::int64_t>();
}

std::expected<std::optional<std::string>, std::string> StringMember(const JsonValue& object, const std::string& key) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_string()) return std::unexpected("'" + key + "' must be a string");
  return it->get<std::string>();
}

}  // namespace sv::daemon
