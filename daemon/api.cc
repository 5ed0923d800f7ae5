#include "daemon/api.h"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <sstream>

#include "daemon/json.h"
#include "daemon/metrics.h"

namespace sv::daemon {

namespace {

using namespace std::chrono_literals;
using supervisor::PoolStatus;

constexpr std::int64_t kMaxTimeoutMs = 3'600'000;  // an hour
constexpr auto kDefaultStartTimeout = 10s;
constexpr auto kDefaultStopTimeout = 30s;
constexpr std::int64_t kMaxLogWaitMs = 60'000;

HttpResponse Json(int status, const JsonValue& body) { return {status, "application/json", Stringify(body)}; }
HttpResponse Text(int status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body)}; }

int StatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kBadConfig: return 400;
    case ErrorCode::kPoolStopped:
    case ErrorCode::kInUse:
    case ErrorCode::kClosed: return 409;
    case ErrorCode::kPayloadTooLarge: return 413;
    case ErrorCode::kPluginError: return 422;
    case ErrorCode::kOverloaded: return 429;
    case ErrorCode::kWorkerCrashed:
    case ErrorCode::kProtocolViolation:
    case ErrorCode::kResourceLimit: return 502;
    case ErrorCode::kStopped: return 409;
    case ErrorCode::kStartFailed: return 503;
    case ErrorCode::kDeadlineExceeded: return 504;
    case ErrorCode::kInternal:
    case ErrorCode::kSystem:
    case ErrorCode::kUnsupported: return 500;
  }
  return 500;
}

std::string_view CodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "BadRequest";
    case ErrorCode::kInUse:
    case ErrorCode::kClosed:
    case ErrorCode::kStopped: return "Conflict";
    default: return ErrorCodeName(code);
  }
}

HttpResponse BadRequest(std::string_view message) { return ErrorResponse(400, "BadRequest", message); }
HttpResponse NotFound(std::string_view message) { return ErrorResponse(404, "NotFound", message); }
HttpResponse MethodNotAllowed(const HttpRequest& r) {
  return ErrorResponse(405, "MethodNotAllowed", r.method + " is not allowed on " + r.path);
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

JsonValue Array(const std::vector<std::string>& names) {
  JsonValue a = JsonValue::array();
  for (const auto& n : names) a.push_back(n);
  return a;
}

JsonValue SummaryJson(const ReloadSummary& s) {
  JsonValue o = JsonValue::object();
  o["added"] = Array(s.added);
  o["removed"] = Array(s.removed);
  o["changed"] = Array(s.changed);
  o["resized"] = Array(s.resized);
  o["supervisor_keys"] = Array(s.supervisor_keys);
  return o;
}

// A request's parsed JSON body plus its query, read the same way.
struct Args {
  JsonValue body;
  const HttpRequest* request;

  // timeout_ms from the body or the query; `fallback` when absent.
  std::expected<Deadline, HttpResponse> DeadlineOr(std::chrono::nanoseconds fallback) const {
    auto ms = Int("timeout_ms", kMaxTimeoutMs);
    if (!ms) return std::unexpected(ms.error());
    return *ms ? Deadline::After(std::chrono::milliseconds(**ms)) : Deadline::After(fallback);
  }
  std::expected<std::optional<std::int64_t>, HttpResponse> Int(const std::string& key, std::int64_t max) const {
    if (auto it = request->query.find(key); it != request->query.end()) {
      char* end = nullptr;
      errno = 0;
      const long long n = std::strtoll(it->second.c_str(), &end, 10);
      if (it->second.empty() || *end != '\0' || errno != 0 || n < 0 || n > max) {
        return std::unexpected(BadRequest("query '" + key + "' must be an integer from 0 to " + std::to_string(max)));
      }
      return n;
    }
    auto n = IntMember(body, key, max);
    if (!n) return std::unexpected(BadRequest(n.error()));
    return *n;
  }
};

std::expected<Args, HttpResponse> ArgsOf(const HttpRequest& r) {
  auto body = ParseObject(r.body);
  if (!body) return std::unexpected(BadRequest(body.error()));
  return Args{std::move(*body), &r};
}

// SIGHUP, "HUP", "1".
std::optional<int> ParseSignal(const std::string& text) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
    char* end = nullptr;
    const long n = std::strtol(text.c_str(), &end, 10);
    if (*end == '\0' && n > 0 && n < NSIG) return static_cast<int>(n);
    return std::nullopt;
  }
  std::string name = text;
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.starts_with("SIG")) name = name.substr(3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && name == abbrev) return sig;
  }
  return std::nullopt;
}

bool Running(const supervisor::WorkerStatus& w) {
  return w.state == supervisor::WorkerState::kReady || w.state == supervisor::WorkerState::kBusy;
}

// Every pool, with each slot of a STOPPED pool listed as a STOPPED worker (as
// supervisord lists a stopped group's processes), so that `status pool:N` and
// the metrics see them.
std::vector<PoolStatus> Snapshot(Controller& controller, bool rss) {
  std::vector<PoolStatus> pools = controller.supervisor().Snapshot({.rss = rss});
  for (PoolStatus& pool : pools) {
    if (pool.state != supervisor::PoolState::kStopped) continue;
    for (std::uint32_t slot = static_cast<std::uint32_t>(pool.workers.size()); slot < pool.desired_workers; ++slot) {
      pool.workers.push_back({.slot = slot, .state = supervisor::WorkerState::kStopped});
    }
  }
  return pools;
}

}  // namespace

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  JsonValue error = JsonValue::object();
  error["code"] = std::string(code);
  error["message"] = std::string(message);
  JsonValue o = JsonValue::object();
  o["error"] = error;
  return Json(status, o);
}

HttpResponse ErrorResponse(const Error& error) {
  HttpResponse response = ErrorResponse(StatusFor(error.code()), CodeName(error.code()), error.message());
  if (error.code() == ErrorCode::kPluginError) {
    JsonValue error_body = JsonValue::object();
    error_body["code"] = std::string(CodeName(error.code()));
    error_body["message"] = error.message();
    error_body["plugin_code"] = error.plugin_code();
    JsonValue o = JsonValue::object();
    o["error"] = error_body;
    response.body = Stringify(o);
  }
  return response;
}

bool Api::InSocketGroup(const HttpRequest& request) const {
  if (!options_.socket_gid) return false;
  if (request.peer_gid == options_.socket_gid) return true;
  return std::find(request.peer_groups.begin(), request.peer_groups.end(), *options_.socket_gid) !=
         request.peer_groups.end();
}

void Api::BeginShutdown() { shutting_down_.store(true); }

HttpResponse Api::Handle(const HttpRequest& request) {
  if (!request.tcp) {
    if (!request.peer_uid) return ErrorResponse(403, "Forbidden", "cannot tell who is asking (no SO_PEERCRED)");
    if (*request.peer_uid != 0 && *request.peer_uid != options_.daemon_uid && !InSocketGroup(request)) {
      return ErrorResponse(403, "Forbidden", "uid " + std::to_string(*request.peer_uid) +
                                                 " may not drive this supervisor (it serves uid " +
                                                 std::to_string(options_.daemon_uid) + ", root" +
                                                 (options_.socket_gid ? " and the socket's group" : "") + ")");
    }
  }
  if (request.body_too_large) return ErrorResponse(413, "PayloadTooLarge", "the request body is too large");
  try {
    return Route(request);
  } catch (const std::exception& e) {
    return ErrorResponse(500, "Internal", std::string("unexpected: ") + e.what());
  }
}

HttpResponse Api::Route(const HttpRequest& r) {
  const std::vector<std::string>& parts = r.segments;
  if (parts.size() == 1 && (parts[0] == "healthz" || parts[0] == "readyz" || parts[0] == "metrics")) {
    if (r.method != "GET" && r.method != "HEAD") return MethodNotAllowed(r);
    if (parts[0] == "healthz") return Text(200, "ok\n");  // the process answers: nothing else to ask
    const auto pools = Snapshot(controller_, false);
    if (parts[0] == "metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", RenderMetrics(pools)};
    std::string waiting;
    const config::Config running = controller_.running();
    for (const PoolStatus& pool : pools) {
      if (controller_.OperatorStopped(pool.name)) continue;
      auto it = running.pools.find(pool.name);
      if (it == running.pools.end() || !it->second.autostart) continue;
      std::uint32_t ready = 0;
      for (const auto& w : pool.workers) ready += Running(w) ? 1 : 0;
      if (pool.state != supervisor::PoolState::kRunning || ready < pool.desired_workers) {
        waiting += " " + pool.name + " (" + std::string(supervisor::PoolStateName(pool.state)) + ", " +
                   std::to_string(ready) + "/" + std::to_string(pool.desired_workers) + " ready)";
      }
    }
    if (shutting_down_.load()) return Text(503, "not ready: shutting down\n");
    return waiting.empty() ? Text(200, "ready\n") : Text(503, "not ready:" + waiting + "\n");
  }
  if (r.tcp) return NotFound("only /healthz, /readyz and /metrics are served here");
  if (parts.empty() || parts[0] != "v1") return NotFound("no such endpoint: " + r.path + " (the API is under /v1/)");
  if (parts.size() >= 2 && parts[1] == "pools") return Pools(r, parts);
  if (parts.size() != 2) return NotFound("no such endpoint: " + r.path);
  const std::string& what = parts[1];
  if (what == "version") {
    if (r.method != "GET") return MethodNotAllowed(r);
    JsonValue o = JsonValue::object();
    o["name"] = std::string("supervisor");
    o["version"] = options_.version;
    o["api"] = 1;
    o["pid"] = static_cast<int>(getpid());
    o["config"] = controller_.config_path().string();
    o["uptime_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                           controller_.started())
                         .count();
    return Json(200, o);
  }
  if (what != "reread" && what != "update" && what != "shutdown") return NotFound("no such endpoint: " + r.path);
  if (r.method != "POST") return MethodNotAllowed(r);
  auto args = ArgsOf(r);
  if (!args) return args.error();
  if (what == "shutdown") {
    JsonValue o = JsonValue::object();
    o["shutting_down"] = true;
    if (options_.shutdown) options_.shutdown();
    return Json(202, o);
  }
  if (shutting_down_.load()) return ErrorResponse(503, "ShuttingDown", "the supervisor is shutting down");
  if (what == "reread") {
    auto summary = controller_.Reread();
    return summary ? Json(200, SummaryJson(*summary)) : ErrorResponse(summary.error());
  }
  std::optional<std::set<std::string>> only;
  if (auto pools = args->body.find("pools"); pools != args->body.end()) {
    const bool names = pools->is_array() && std::all_of(pools->begin(), pools->end(),
                                                         [](const JsonValue& v) { return v.is_string(); });
    if (!names) return BadRequest("'pools' must be an array of pool names");
    only.emplace();
    for (const JsonValue& name : *pools) only->insert(name.get<std::string>());
  }
  auto summary = controller_.Update(only);
  if (summary && options_.reloaded) options_.reloaded();
  return summary ? Json(200, SummaryJson(*summary)) : ErrorResponse(summary.error());
}

HttpResponse Api::Pools(const HttpRequest& r, const std::vector<std::string>& parts) {
  if (parts.size() == 2) {
    if (r.method != "GET") return MethodNotAllowed(r);
    const bool rss = r.query.contains("rss") && r.query.at("rss") != "0";
    JsonValue pools = JsonValue::array();
    for (const PoolStatus& pool : Snapshot(controller_, rss)) pools.push_back(PoolJson(pool));
    JsonValue o = JsonValue::object();
    o["pools"] = pools;
    return Json(200, o);
  }
  const std::string& name = parts[2];
  const auto snapshot = Snapshot(controller_, parts.size() == 3);
  const PoolStatus* pool = nullptr;
  std::vector<std::string> names;
  for (const PoolStatus& p : snapshot) {
    names.push_back(p.name);
    if (p.name == name) pool = &p;
  }
  if (pool == nullptr) return NotFound("no pool named '" + name + "' (pools: " + Join(names) + ")");
  if (parts.size() == 3) return r.method == "GET" ? Json(200, PoolJson(*pool)) : MethodNotAllowed(r);
  if (parts.size() == 6 && parts[3] == "workers") return Worker(r, *pool, parts[4], parts[5]);
  if (parts.size() != 4) return NotFound("no such endpoint: " + r.path);
  const std::string& verb = parts[3];
  static const std::set<std::string, std::less<>> kVerbs = {"logs",    "call",  "start", "stop",
                                                           "restart", "scale", "signal"};
  if (!kVerbs.contains(verb)) return NotFound("no such endpoint: " + r.path);
  if (verb == "logs") return r.method == "GET" ? Logs(r, *pool) : MethodNotAllowed(r);
  if (r.method != "POST") return MethodNotAllowed(r);
  if (verb == "call") return Call(r, *pool);
  auto args = ArgsOf(r);
  if (!args) return args.error();
  if (shutting_down_.load()) return ErrorResponse(503, "ShuttingDown", "the supervisor is shutting down");
  auto& sv = controller_.supervisor();
  JsonValue o = JsonValue::object();
  o["pool"] = name;
  if (verb == "start") {
    auto deadline = args->DeadlineOr(kDefaultStartTimeout);
    if (!deadline) return deadline.error();
    controller_.MarkStopped(name, false);
    if (Status s = sv.Start(name); !s) return ErrorResponse(s.error());
    // A whole pool means every worker: slots an operator stopped come back too.
    for (const auto& w : pool->workers) {
      if (w.state != supervisor::WorkerState::kStopped || pool->state != supervisor::PoolState::kRunning) continue;
      if (Status s = sv.StartWorker(name, w.slot); !s) return ErrorResponse(s.error());
    }
    if (Status s = sv.WaitReady(name, *deadline); !s) return ErrorResponse(s.error());
    o["ready"] = true;
    return Json(200, o);
  }
  if (verb == "stop") {
    auto deadline = args->DeadlineOr(kDefaultStopTimeout);
    if (!deadline) return deadline.error();
    controller_.MarkStopped(name, true);
    auto report = sv.Stop(name, *deadline);
    return report ? Json(200, StopReportJson(*report)) : ErrorResponse(report.error());
  }
  if (verb == "restart") {
    auto deadline = args->DeadlineOr(kDefaultStopTimeout);
    if (!deadline) return deadline.error();
    if (Status s = sv.Restart(name, *deadline); !s) return ErrorResponse(s.error());
    o["ready"] = true;
    return Json(200, o);
  }
  if (verb == "scale") {
    auto workers = args->Int("workers", config::kMaxWorkers);
    if (!workers) return BadRequest("scale takes {\"workers\": N}, N from 1 to " + std::to_string(config::kMaxWorkers));
    if (!*workers || **workers == 0) {
      return BadRequest("scale takes {\"workers\": N}, N from 1 to " + std::to_string(config::kMaxWorkers));
    }
    if (Status s = controller_.Scale(name, static_cast<std::uint32_t>(**workers)); !s) return ErrorResponse(s.error());
    o["workers"] = **workers;
    return Json(200, o);
  }
  if (verb == "signal") {
    auto signal = StringMember(args->body, "signal");
    if (!signal) return BadRequest(signal.error());
    if (!*signal) return BadRequest("signal takes {\"signal\": \"HUP\"}");
    return Signal(name, std::nullopt, **signal);
  }
  return NotFound("no such endpoint: " + r.path);
}

HttpResponse Api::Call(const HttpRequest& r, const PoolStatus& pool) {
  auto method = r.query.find("method");
  if (method == r.query.end() || method->second.empty()) {
    return BadRequest("call needs ?method=<name> in the query (the body is the input)");
  }
  Args args{JsonValue::object(), &r};
  auto ms = args.Int("timeout_ms", kMaxTimeoutMs);
  if (!ms) return ms.error();
  if (shutting_down_.load()) return ErrorResponse(503, "ShuttingDown", "the supervisor is shutting down");
  supervisor::Pool* handle = controller_.supervisor().pool(pool.name);
  if (handle == nullptr) return NotFound("no pool named '" + pool.name + "'");
  std::optional<Deadline> deadline;
  if (*ms) deadline = Deadline::After(std::chrono::milliseconds(**ms));
  auto output = handle->Call(method->second, r.body, deadline);
  if (!output) return ErrorResponse(output.error());
  return {200, "application/octet-stream", std::move(*output)};
}

HttpResponse Api::Signal(const std::string& pool, std::optional<std::uint32_t> slot, const std::string& text) {
  const std::optional<int> signo = ParseSignal(text);
  if (!signo) return BadRequest("unknown signal '" + text + "' (try HUP, TERM, USR1 or a number)");
  auto sent = controller_.supervisor().Signal(pool, slot, *signo);
  if (!sent) return ErrorResponse(sent.error());
  JsonValue signalled = JsonValue::array();
  for (const auto& s : *sent) {
    JsonValue o = JsonValue::object();
    o["slot"] = s.slot;
    o["pid"] = static_cast<int>(s.pid);
    signalled.push_back(o);
  }
  JsonValue o = JsonValue::object();
  o["pool"] = pool;
  o["signalled"] = signalled;
  return Json(200, o);
}

}  // namespace sv::daemon

namespace sv::daemon {

HttpResponse Api::Worker(const HttpRequest& r, const PoolStatus& pool, const std::string& slot_text,
                         const std::string& verb) {
  char* end = nullptr;
  const unsigned long slot = std::strtoul(slot_text.c_str(), &end, 10);
  if (slot_text.empty() || *end != '\0' || !std::isdigit(static_cast<unsigned char>(slot_text[0])) ||
      slot > config::kMaxWorkers) {
    return BadRequest("a worker is addressed by its slot number, got '" + slot_text + "'");
  }
  const bool known = std::any_of(pool.workers.begin(), pool.workers.end(),
                                 [&](const supervisor::WorkerStatus& w) { return w.slot == slot; });
  if (!known) {
    return NotFound("pool '" + pool.name + "' has no worker " + slot_text + " (it has " +
                    std::to_string(pool.workers.size()) + " slots)");
  }
  if (verb != "start" && verb != "stop" && verb != "restart" && verb != "signal") {
    return NotFound("no such endpoint: " + r.path);
  }
  if (r.method != "POST") return MethodNotAllowed(r);
  auto args = ArgsOf(r);
  if (!args) return args.error();
  if (shutting_down_.load()) return ErrorResponse(503, "ShuttingDown", "the supervisor is shutting down");
  const auto index = static_cast<std::uint32_t>(slot);
  auto& sv = controller_.supervisor();
  JsonValue o = JsonValue::object();
  o["pool"] = pool.name;
  o["slot"] = index;
  if (verb == "signal") {
    auto signal = StringMember(args->body, "signal");
    if (!signal) return BadRequest(signal.error());
    if (!*signal) return BadRequest("signal takes {\"signal\": \"HUP\"}");
    return Signal(pool.name, index, **signal);
  }
  if (verb == "stop") {
    auto deadline = args->DeadlineOr(kDefaultStopTimeout);
    if (!deadline) return deadline.error();
    auto report = sv.StopWorker(pool.name, index, *deadline);
    return report ? Json(200, StopReportJson(*report)) : ErrorResponse(report.error());
  }
  if (verb != "start" && verb != "restart") return NotFound("no such endpoint: " + r.path);
  auto deadline = args->DeadlineOr(verb == "start" ? std::chrono::nanoseconds(kDefaultStartTimeout)
                                                   : std::chrono::nanoseconds(kDefaultStopTimeout));
  if (!deadline) return deadline.error();
  Status s = verb == "start" ? sv.StartWorker(pool.name, index, *deadline) : sv.RestartWorker(pool.name, index, *deadline);
  if (!s) return ErrorResponse(s.error());
  o["ready"] = true;
  return Json(200, o);
}

}  // namespace sv::daemon

namespace sv::daemon {

HttpResponse Api::Logs(const HttpRequest& r, const PoolStatus& pool) {
  supervisor::LogStream stream = supervisor::LogStream::kStdout;
  if (auto it = r.query.find("stream"); it != r.query.end()) {
    if (it->second == "stderr") {
      stream = supervisor::LogStream::kStderr;
    } else if (it->second != "stdout") {
      return BadRequest("stream must be stdout or stderr, got '" + it->second + "'");
    }
  }
  Args args{JsonValue::object(), &r};
  auto tail = args.Int("tail", 100'000);
  auto after = args.Int("after", std::numeric_limits<std::int64_t>::max());
  auto wait_ms = args.Int("wait_ms", kMaxLogWaitMs);
  auto limit = args.Int("limit", 100'000);
  for (const auto* v : {&tail, &after, &wait_ms, &limit}) {
    if (!*v) return v->error();
  }
  supervisor::LogQuery query;
  if (*after) query.after = static_cast<std::uint64_t>(**after);
  if (*tail) query.tail = static_cast<std::size_t>(**tail);
  if (*limit) query.limit = static_cast<std::size_t>(**limit);
  // A long poll waits in slices, so that a shutdown does not wait for it.
  const Deadline until = Deadline::After(std::chrono::milliseconds(wait_ms->value_or(0)));
  auto read = controller_.supervisor().ReadLog(pool.name, stream, query);
  while (read && read->lines.empty() && query.after && !until.Expired() && !shutting_down_.load()) {
    const auto slice = Deadline::After(std::min<std::chrono::nanoseconds>(until.Remaining(), 250ms));
    read = controller_.supervisor().ReadLog(pool.name, stream, query, slice);
  }
  if (!read) return ErrorResponse(read.error());
  JsonValue lines = JsonValue::array();
  for (const auto& line : read->lines) {
    JsonValue o = JsonValue::object();
    o["seq"] = static_cast<std::uint64_t>(line.seq);
    o["text"] = line.text;
    lines.push_back(o);
  }
  JsonValue o = JsonValue::object();
  o["pool"] = pool.name;
  o["stream"] = std::string(supervisor::LogStreamName(stream));
  o["lines"] = lines;
  o["next"] = static_cast<std::uint64_t>(read->next);
  o["dropped"] = static_cast<std::uint64_t>(read->dropped);
  return Json(200, o);
}

}  // namespace sv::daemon
