#include "daemon/json.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <chrono>
#include <sstream>

namespace sv::daemon {

Poco::JSON::Object::Ptr NewObject() { return new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER); }

std::string Stringify(const Poco::JSON::Object::Ptr& object) {
  std::ostringstream out;
  object->stringify(out);
  out << '\n';
  return std::move(out).str();
}

namespace {

Poco::JSON::Object::Ptr WorkerJson(const std::string& pool, const supervisor::WorkerStatus& w) {
  Poco::JSON::Object::Ptr o = NewObject();
  o->set("id", pool + ":" + std::to_string(w.slot));
  o->set("slot", w.slot);
  o->set("state", std::string(supervisor::WorkerStateName(w.state)));
  o->set("pid", static_cast<int>(w.pid));
  o->set("uptime_ms", static_cast<Poco::Int64>(std::chrono::duration_cast<std::chrono::milliseconds>(w.uptime).count()));
  o->set("calls", static_cast<Poco::UInt64>(w.calls));
  o->set("generation", static_cast<Poco::UInt64>(w.generation));
  o->set("rss_bytes", static_cast<Poco::UInt64>(w.rss_bytes));
  if (w.last_exit) {
    o->set("last_exit", w.last_exit->ToString());
  } else {
    o->set("last_exit", Poco::Dynamic::Var());
  }
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

Poco::JSON::Object::Ptr PoolJson(const supervisor::PoolStatus& pool) {
  Poco::JSON::Object::Ptr o = NewObject();
  o->set("name", pool.name);
  o->set("state", std::string(supervisor::PoolStateName(pool.state)));
  o->set("desired_workers", pool.desired_workers);
  o->set("ready_workers", ReadyWorkers(pool));
  o->set("waiting_callers", pool.waiting_callers);
  o->set("calls", static_cast<Poco::UInt64>(pool.calls));
  Poco::JSON::Object::Ptr failures = NewObject();
  for (const auto& [kind, count] : pool.failures) failures->set(kind, static_cast<Poco::UInt64>(count));
  o->set("failures", failures);
  o->set("restarts", static_cast<Poco::UInt64>(pool.restarts));
  o->set("kills", static_cast<Poco::UInt64>(pool.kills));
  o->set("last_error", pool.last_error);
  o->set("kill_scope", pool.kill_scope);
  o->set("spawner", pool.spawner);
  o->set("zygote_pid", static_cast<int>(pool.zygote_pid));
  Poco::JSON::Object::Ptr dropped = NewObject();
  dropped->set("stdout", static_cast<Poco::UInt64>(pool.stdout_log.dropped));
  dropped->set("stderr", static_cast<Poco::UInt64>(pool.stderr_log.dropped));
  o->set("logs_dropped", dropped);
  Poco::JSON::Array::Ptr workers = new Poco::JSON::Array;
  for (const auto& w : pool.workers) workers->add(WorkerJson(pool.name, w));
  o->set("workers", workers);
  return o;
}

Poco::JSON::Object::Ptr StopReportJson(const supervisor::StopReport& report) {
  Poco::JSON::Object::Ptr o = NewObject();
  o->set("pool", report.pool);
  Poco::JSON::Array::Ptr workers = new Poco::JSON::Array;
  for (const auto& entry : report.workers) {
    Poco::JSON::Object::Ptr w = NewObject();
    w->set("slot", entry.slot);
    w->set("pid", static_cast<int>(entry.pid));
    w->set("outcome", std::string(supervisor::StopOutcomeName(entry.outcome)));
    workers->add(w);
  }
  o->set("workers", workers);
  return o;
}

std::expected<Poco::JSON::Object::Ptr, std::string> ParseObject(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return NewObject();
  try {
    Poco::JSON::Parser parser;
    const Poco::Dynamic::Var parsed = parser.parse(std::string(body));
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) return std::unexpected("the body is not a JSON object");
    return parsed.extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception& e) {
    return std::unexpected("the body is not valid JSON: " + e.message());
  }
}

std::expected<std::optional<std::int64_t>, std::string> IntMember(const Poco::JSON::Object::Ptr& object,
                                                                   const std::string& key, std::int64_t max) {
  if (!object->has(key)) return std::nullopt;
  const Poco::Dynamic::Var value = object->get(key);
  if (!value.isInteger()) return std::unexpected("'" + key + "' must be an integer");
  try {
    const std::int64_t n = value.convert<Poco::Int64>();
    if (n < 0 || n > max) {
      return std::unexpected("'" + key + "' must be from 0 to " + std::to_string(max) + ", got " + std::to_string(n));
    }
    return n;
  } catch (const Poco::Exception&) {
    return std::unexpected("'" + key + "' is out of range");
  }
}

std::expected<std::optional<std::string>, std::string> StringMember(const Poco::JSON::Object::Ptr& object,
                                                                    const std::string& key) {
  if (!object->has(key)) return std::nullopt;
  const Poco::Dynamic::Var value = object->get(key);
  if (!value.isString()) return std::unexpected("'" + key + "' must be a string");
  return value.extract<std::string>();
}

}  // namespace sv::daemon
