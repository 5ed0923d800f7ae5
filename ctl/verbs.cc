// The verbs that talk to the daemon: requests, output and exit codes.
#include "ctl/verbs.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ctl/status.h"

namespace sv::ctl {
namespace {

using namespace std::chrono_literals;
// Objects keep their members in document order, so a pool passed on keeps
// the daemon's key order.
using Json = nlohmann::ordered_json;

// How long the client waits past the wait it asked the daemon for, for the
// answer to arrive.
constexpr auto kGrace = 2s;
// Waits when no --timeout is given: the daemon's own defaults (docs/api.md)
// for start/stop/restart, generous ones elsewhere; no verb waits forever.
constexpr auto kQuickWait = 10s;
constexpr auto kStartWait = 10s;
constexpr auto kStopWait = 30s;
constexpr auto kLongWait = 60s;
constexpr auto kPoolsWait = 1s;       // _pools: completion must not stall the shell; no grace
constexpr auto kFollowPoll = 30s;     // tail -f: the longest single wait_ms
// The longest timeout_ms the daemon accepts (docs/api.md); a longer --timeout
// still bounds the client's own wait.
constexpr int kMaxTimeoutMs = 3'600'000;

// The body as a JSON object; an empty object when it is not one.
Json ParseObject(std::string_view body) {
  Json value = Json::parse(body, nullptr, false);
  return value.is_object() ? value : Json::object();
}

// The lenient reads of the verbs below: the member named `key` of an object;
// nullptr when absent or `object` is not an object.
const Json* Find(const Json& object, std::string_view key) {
  const auto it = object.find(key);  // end() for a non-object too
  return it == object.end() ? nullptr : &*it;
}

// The member when it is a string, else `fallback`.
std::string StringOr(const Json& object, std::string_view key, std::string fallback = "") {
  const Json* value = Find(object, key);
  return value != nullptr && value->is_string() ? value->get_ref<const std::string&>() : fallback;
}

// The member when it is an integer that fits int64, else `fallback`.
std::int64_t IntOr(const Json& object, std::string_view key, std::int64_t fallback = 0) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const Json* value = Find(object, key);
  if (value == nullptr || !value->is_number_integer()) return fallback;
  if (value->is_number_unsigned() && value->get<std::uint64_t>() > kMax) return fallback;
  return value->get<std::int64_t>();
}

// The member when it is an array, else an empty array.
const Json& ItemsOf(const Json& object, std::string_view key) {
  static const Json kNone = Json::array();
  const Json* value = Find(object, key);
  return value != nullptr && value->is_array() ? *value : kNone;
}

std::vector<std::string> Strings(const Json& items) {
  std::vector<std::string> out;
  for (const Json& item : items) {
    if (item.is_string()) out.push_back(item.get_ref<const std::string&>());
  }
  return out;
}

// Compact JSON; bytes that are not UTF-8 become U+FFFD instead of throwing.
std::string Dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string ApiPath(const Target& target, std::string_view op) {
  std::string path = "/v1/pools/" + UrlEncode(target.pool);
  if (target.slot) path += "/workers/" + std::to_string(*target.slot);
  return op.empty() ? path : path + "/" + std::string(op);
}

// A pool's JSON with only the workers in `slots`, keys in the daemon's order.
std::string PoolWithSlots(const std::string& pool_body, const std::set<std::uint32_t>& slots) {
  Json pool = ParseObject(pool_body);
  if (const auto workers = pool.find("workers"); workers != pool.end() && workers->is_array()) {
    std::erase_if(workers->get_ref<Json::array_t&>(), [&](const Json& worker) {
      return !slots.contains(static_cast<std::uint32_t>(IntOr(worker, "slot", -1)));
    });
  }
  return Dump(pool);
}

// The body without its trailing whitespace: the daemon ends each body with
// "\n", and --json prints each answer or composed object on one line.
std::string_view Trimmed(std::string_view body) {
  const std::size_t end = body.find_last_not_of(" \t\r\n");
  return end == std::string_view::npos ? std::string_view() : body.substr(0, end + 1);
}

bool Ok(const Response& response) { return response.status >= 200 && response.status < 300; }

std::string ApiCode(const std::string& body) {
  const Json root = ParseObject(body);
  const Json* error = Find(root, "error");
  return error == nullptr ? "" : StringOr(*error, "code");
}

// Runs one command; holds the deadline every request shares and the exit code
// so far. Not reusable.
class Runner {
 public:
  Runner(const Command& command, const Client& client, const std::string& config, Streams io)
      : command_(command), client_(client), config_(config), io_(io) {
    if (command.timeout) overall_ = Deadline::After(*command.timeout);
  }

  int Run();

 private:
  // Sends a request that waits up to `default_wait` (or --timeout); reports a
  // failed exchange on err and records its exit code.
  std::optional<Response> Send(std::string_view method, const std::string& path, std::string_view body,
                               std::chrono::nanoseconds default_wait);
  Deadline RequestDeadline(std::chrono::nanoseconds default_wait) const;
  // {"timeout_ms": N} with what is left of --timeout; "{}" without one.
  std::string TimeoutBody() const;
  std::string TimeoutQuery(char separator) const;
  // What is left of --timeout in ms, within what the daemon accepts.
  int TimeoutMs() const { return std::clamp(overall_.RemainingMillis(), 1, kMaxTimeoutMs); }

  // Reports an error answer about `what` (on err; --json: its body on out)
  // and records its exit code.
  void ReportApiError(std::string_view what, const Response& response);
  void Fail(int code) { exit_ = WorseExitCode(exit_, code); }
  // One request whose success `print` shows to a person; --json prints the body.
  int Single(std::string_view method, const std::string& path, std::string_view body,
             std::chrono::nanoseconds wait, std::string_view what, const std::function<void(const Json&)>& print);
  std::optional<std::vector<std::string>> PoolNames(std::chrono::nanoseconds wait);
  std::optional<std::vector<Target>> ExpandAll();
  bool ReportUnknownNames(const std::vector<PoolStatus>& pools);

  int Status();
  int StatusOfTargets();
  int Lifecycle();
  void PrintLifecycle(const Target& target, const Json& answer);
  int Changes(bool update);
  int Scale();
  int SignalWorkers();
  int Pid();
  int Tail();
  bool PrintLogs(const Response& response, std::int64_t& next);
  int Call();
  int Shutdown();
  int Version();
  int Pools();

  const Command& command_;
  const Client& client_;
  const std::string& config_;
  Streams io_;
  Deadline overall_ = Deadline::Infinite();
  int exit_ = kExitOk;
};

std::optional<Response> Runner::Send(std::string_view method, const std::string& path, std::string_view body,
                                     std::chrono::nanoseconds default_wait) {
  auto response = client_.Send(method, path, body, RequestDeadline(default_wait));
  if (response) return std::move(*response);
  if (command_.verb != Verb::kPools) {
    io_.err << "supervisorctl: " << DescribeClientError(response.error(), client_.socket_path(), config_) << "\n";
  }
  Fail(ExitCodeForClientError(response.error()));
  return std::nullopt;
}

Deadline Runner::RequestDeadline(std::chrono::nanoseconds default_wait) const {
  // _pools asks the daemon to wait for nothing, and a shell waits on it.
  if (!command_.timeout && command_.verb == Verb::kPools) return Deadline::After(kPoolsWait);
  if (!command_.timeout) return Deadline::After(default_wait + kGrace);
  if (overall_.infinite()) return overall_;
  return Deadline::At(overall_.when() + kGrace);
}

std::string Runner::TimeoutBody() const {
  if (!command_.timeout) return "{}";
  return "{\"timeout_ms\": " + std::to_string(TimeoutMs()) + "}";
}

std::string Runner::TimeoutQuery(char separator) const {
  if (!command_.timeout) return "";
  return separator + std::string("timeout_ms=") + std::to_string(TimeoutMs());
}

void Runner::ReportApiError(std::string_view what, const Response& response) {
  if (command_.json) io_.out << Trimmed(response.body) << "\n";
  if (!command_.json) io_.err << what << ": ERROR (" << DescribeApiError(response.status, response.body) << ")\n";
  Fail(ExitCodeForApiError(response.status, ApiCode(response.body)));
}

int Runner::Single(std::string_view method, const std::string& path, std::string_view body,
                   std::chrono::nanoseconds wait, std::string_view what,
                   const std::function<void(const Json&)>& print) {
  auto response = Send(method, path, body, wait);
  if (!response) return exit_;
  if (!Ok(*response)) {
    ReportApiError(what, *response);
    return exit_;
  }
  if (command_.json) {
    io_.out << Trimmed(response->body) << "\n";
    return exit_;
  }
  print(ParseObject(response->body));
  return exit_;
}

std::optional<std::vector<std::string>> Runner::PoolNames(std::chrono::nanoseconds wait) {
  auto response = Send("GET", "/v1/pools", "", wait);
  if (!response) return std::nullopt;
  if (!Ok(*response)) {
    if (command_.verb != Verb::kPools) ReportApiError("pools", *response);
    return std::nullopt;
  }
  std::vector<std::string> names;
  const Json root = ParseObject(response->body);
  for (const Json& pool : ItemsOf(root, "pools")) names.push_back(StringOr(pool, "name"));
  return names;
}

// The command's targets with `all` replaced by every pool, in name order.
std::optional<std::vector<Target>> Runner::ExpandAll() {
  std::vector<Target> targets;
  for (const Target& target : command_.targets) {
    if (!target.all) {
      targets.push_back(target);
      continue;
    }
    auto names = PoolNames(kQuickWait);
    if (!names) return std::nullopt;
    for (std::string& name : *names) targets.push_back(Target{.pool = std::move(name)});
  }
  return targets;
}

int Runner::Status() {
  const bool any_all = std::ranges::any_of(command_.targets, [](const Target& t) { return t.all; });
  if (!command_.targets.empty() && !any_all) return StatusOfTargets();
  auto response = Send("GET", "/v1/pools", "", kQuickWait);
  if (!response) return exit_;
  if (!Ok(*response)) {
    ReportApiError("status", *response);
    return exit_;
  }
  auto pools = ParsePoolList(response->body);
  if (!pools) {
    io_.err << "supervisorctl: " << pools.error() << "\n";
    return kExitFailed;
  }
  if (command_.json) io_.out << Trimmed(response->body) << "\n";
  const bool unknown = ReportUnknownNames(*pools);
  std::vector<StatusLine> lines;
  bool running = true;
  for (const PoolStatus& pool : *pools) {
    auto rows = StatusLines(pool);
    lines.insert(lines.end(), std::make_move_iterator(rows->begin()), std::make_move_iterator(rows->end()));
    running = running && IsRunning(pool);
  }
  if (!command_.json) io_.out << FormatStatusTable(lines);
  return StatusExitCode(unknown, running);
}

// status all NAME...: every pool is shown; a name that is not among them is
// still an error, on err. True when there was one.
bool Runner::ReportUnknownNames(const std::vector<PoolStatus>& pools) {
  bool unknown = false;
  for (const Target& target : command_.targets) {
    if (target.all) continue;
    const auto pool = std::ranges::find(pools, target.pool, &PoolStatus::name);
    if (pool == pools.end()) {
      io_.err << target.pool << ": ERROR (no such pool)\n";
      unknown = true;
    } else if (target.slot && !StatusLines(*pool, target.slot)) {
      io_.err << target.ToString() << ": ERROR (no such worker)\n";
      unknown = true;
    }
  }
  return unknown;
}

// status with named pools and workers: one GET per pool named. --json prints
// GET /v1/pools's shape with the pools named, in the order first named, each
// with only its workers named unless the whole pool was named.
int Runner::StatusOfTargets() {
  struct Named {
    std::optional<Response> answer;
    bool whole = false;
    std::set<std::uint32_t> slots;
  };
  std::map<std::string, Named> named;
  std::vector<std::string> order;
  std::vector<StatusLine> lines;
  std::string errors;  // --json: "name": the daemon's error body, ...
  bool unknown = false, running = true;
  for (const Target& target : command_.targets) {
    auto [it, fresh] = named.try_emplace(target.pool);
    if (fresh) {
      it->second.answer = Send("GET", ApiPath(Target{.pool = target.pool}, ""), "", kQuickWait);
      if (!it->second.answer) return exit_;  // the daemon is unreachable
    }
    const Response& response = *it->second.answer;
    if (!Ok(response)) {
      if (fresh && !command_.json) ReportApiError(target.pool, response);
      if (fresh && command_.json) {
        errors += (errors.empty() ? "" : ", ") + JsonQuote(target.pool) + ": " + std::string(Trimmed(response.body));
        Fail(ExitCodeForApiError(response.status, ApiCode(response.body)));
      }
      unknown = unknown || response.status == 404;
      running = false;
      continue;
    }
    auto pool = ParsePoolStatus(response.body);
    if (!pool) {
      io_.err << "supervisorctl: " << pool.error() << "\n";
      return kExitFailed;
    }
    auto rows = StatusLines(*pool, target.slot);
    if (!rows) {
      io_.err << target.ToString() << ": ERROR (no such worker)\n";
      unknown = true;
      continue;
    }
    lines.insert(lines.end(), rows->begin(), rows->end());
    running = running && IsRunning(*pool, target.slot);
    if (fresh || (!it->second.whole && it->second.slots.empty())) order.push_back(target.pool);
    it->second.whole = it->second.whole || !target.slot;
    if (target.slot) it->second.slots.insert(*target.slot);
  }
  if (!command_.json) io_.out << FormatStatusTable(lines);
  if (command_.json) {
    std::string json = "{\"pools\": [";
    for (std::size_t i = 0; i < order.size(); ++i) {
      const Named& pool = named[order[i]];
      json += (i == 0 ? "" : ", ") + (pool.whole ? std::string(Trimmed(pool.answer->body))
                                                 : PoolWithSlots(pool.answer->body, pool.slots));
    }
    io_.out << json << "]" << (errors.empty() ? "" : ", \"errors\": {" + errors + "}") << "}\n";
  }
  return WorseExitCode(exit_, StatusExitCode(unknown, running));
}

void Runner::PrintLifecycle(const Target& target, const Json& answer) {
  const std::string name = target.ToString();
  if (command_.verb == Verb::kStart) io_.out << name << ": started\n";
  if (command_.verb == Verb::kRestart) io_.out << name << ": restarted\n";
  if (command_.verb != Verb::kStop) return;
  const Json& workers = ItemsOf(answer, "workers");
  if (workers.empty()) io_.out << name << ": stopped\n";
  for (const Json& worker : workers) {
    const std::string outcome = StringOr(worker, "outcome", "stopped");
    const std::int64_t pid = IntOr(worker, "pid");
    io_.out << target.pool << ":" << IntOr(worker, "slot") << ": " << outcome;
    if (pid > 0) io_.out << " (pid " << pid;
    if (outcome == "killed") io_.out << (pid > 0 ? ", " : " (") << "did not stop within stop_timeout";
    if (pid > 0 || outcome == "killed") io_.out << ")";
    io_.out << "\n";
  }
}

// start, stop, restart: one POST per target, in order; a failed target does
// not stop the others.
int Runner::Lifecycle() {
  auto targets = ExpandAll();
  if (!targets) return exit_;
  const std::string op(VerbName(command_.verb));
  const auto wait = command_.verb == Verb::kStart ? kStartWait : kStopWait;
  std::string json;
  for (const Target& target : *targets) {
    auto response = Send("POST", ApiPath(target, op), TimeoutBody(), wait);
    if (!response) return exit_;
    json += (json.empty() ? "{" : ", ") + JsonQuote(target.ToString()) + ": " + std::string(Trimmed(response->body));
    if (!Ok(*response)) {
      if (command_.json) Fail(ExitCodeForApiError(response->status, ApiCode(response->body)));
      if (!command_.json) ReportApiError(target.ToString(), *response);
      continue;
    }
    if (!command_.json) PrintLifecycle(target, ParseObject(response->body));
  }
  if (command_.json) io_.out << (json.empty() ? "{" : json) << "}\n";
  return exit_;
}

// reread and update: what would change, or what did.
int Runner::Changes(bool update) {
  std::string body = "{}";
  if (update && !command_.targets.empty()) {
    body = "{\"pools\": [";
    for (std::size_t i = 0; i < command_.targets.size(); ++i) {
      body += (i == 0 ? "" : ", ") + JsonQuote(command_.targets[i].pool);
    }
    body += "]}";
  }
  static constexpr std::array<std::array<std::string_view, 3>, 4> kWords = {{
      {"added", "available", "added"},
      {"removed", "disappeared", "removed"},
      {"changed", "changed", "changed, restarted"},
      {"resized", "resized", "resized"},
  }};
  return Single("POST", update ? "/v1/update" : "/v1/reread", body, update ? kLongWait : kQuickWait,
                update ? "update" : "reread", [&](const Json& answer) {
                  bool any = false;
                  for (const auto& words : kWords) {
                    for (const std::string& name : Strings(ItemsOf(answer, words[0]))) {
                      io_.out << name << ": " << words[update ? 2 : 1] << "\n";
                      any = true;
                    }
                  }
                  if (!any) io_.out << "no config updates to pools\n";
                });
}

int Runner::Scale() {
  const Target& target = command_.targets[0];
  return Single("POST", ApiPath(target, "scale"), "{\"workers\": " + std::to_string(command_.workers) + "}",
                kQuickWait, target.pool, [&](const Json& answer) {
                  const auto n = IntOr(answer, "workers", command_.workers);
                  io_.out << target.pool << ": " << n << (n == 1 ? " worker\n" : " workers\n");
                });
}

int Runner::SignalWorkers() {
  const Target& target = command_.targets[0];
  return Single("POST", ApiPath(target, "signal"), "{\"signal\": " + JsonQuote(command_.signal) + "}", kQuickWait,
                target.ToString(), [&](const Json& answer) {
                  const Json& signalled = ItemsOf(answer, "signalled");
                  if (signalled.empty()) io_.out << target.ToString() << ": no worker to signal\n";
                  for (const Json& worker : signalled) {
                    io_.out << target.pool << ":" << IntOr(worker, "slot") << ": signalled (pid "
                            << IntOr(worker, "pid") << ")\n";
                  }
                });
}

int Runner::Pid() {
  if (command_.targets.empty()) {
    return Single("GET", "/v1/version", "", kQuickWait, "pid",
                  [&](const Json& answer) { io_.out << IntOr(answer, "pid") << "\n"; });
  }
  const Target& target = command_.targets[0];
  auto response = Send("GET", ApiPath({.pool = target.pool}, ""), "", kQuickWait);
  if (!response) return exit_;
  if (!Ok(*response)) {
    ReportApiError(target.pool, *response);
    return exit_;
  }
  const Json pool = ParseObject(response->body);
  std::vector<std::int64_t> pids;
  for (const Json& worker : ItemsOf(pool, "workers")) {
    if (!target.slot || IntOr(worker, "slot", -1) == *target.slot) pids.push_back(IntOr(worker, "pid"));
  }
  if (target.slot && pids.empty()) {
    io_.err << target.ToString() << ": ERROR (no such worker)\n";
    Fail(kExitUnknown);
    return exit_;
  }
  if (command_.json) {
    io_.out << (target.slot ? PoolWithSlots(response->body, {*target.slot}) : std::string(Trimmed(response->body)))
            << "\n";
  }
  for (std::int64_t pid : pids) {
    if (!command_.json) io_.out << pid << "\n";
  }
  return exit_;
}

// Prints a logs answer's lines (or, --json, the answer) and moves `next` on.
// False when the answer is an error or not the API's shape.
bool Runner::PrintLogs(const Response& response, std::int64_t& next) {
  if (!Ok(response)) {
    ReportApiError(command_.targets[0].pool, response);
    return false;
  }
  const Json answer = Json::parse(response.body, nullptr, false);
  if (!answer.is_object()) {  // a discarded (broken) text is not an object either
    io_.err << "supervisorctl: unexpected answer from the daemon: " << response.body.substr(0, 200) << "\n";
    Fail(kExitFailed);
    return false;
  }
  const Json& lines = ItemsOf(answer, "lines");
  if (command_.json && (!lines.empty() || next < 0)) io_.out << Trimmed(response.body) << "\n";
  if (const auto dropped = IntOr(answer, "dropped"); dropped > 0 && next >= 0) {
    io_.err << "supervisorctl: " << dropped << (dropped == 1 ? " line" : " lines") << " dropped\n";
  }
  for (const Json& line : lines) {
    if (!command_.json) io_.out << StringOr(line, "text") << "\n";
  }
  io_.out.flush();
  next = IntOr(answer, "next", next);
  return io_.out.good();
}

// tail: the last N lines; -f then long-polls with after=next until --timeout
// passes or the process is interrupted.
int Runner::Tail() {
  const std::string base = ApiPath(command_.targets[0], "logs") + "?stream=" + command_.stream;
  auto first = Send("GET", base + "&tail=" + std::to_string(command_.lines), "", kQuickWait);
  std::int64_t next = -1;
  if (!first || !PrintLogs(*first, next) || !command_.follow) return exit_;
  while (!overall_.Expired()) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min<std::chrono::nanoseconds>(overall_.Remaining(), kFollowPoll));
    const std::string path =
        base + "&after=" + std::to_string(next) + "&wait_ms=" + std::to_string(std::max<std::int64_t>(1, wait.count()));
    auto response = client_.Send("GET", path, "", Deadline::After(wait + kGrace));
    if (!response) {
      io_.err << "supervisorctl: " << DescribeClientError(response.error(), client_.socket_path(), config_) << "\n";
      return WorseExitCode(exit_, ExitCodeForClientError(response.error()));
    }
    if (!PrintLogs(*response, next)) return exit_;
  }
  return exit_;
}

constexpr std::size_t kMaxInput = std::size_t{256} << 20;  // the daemon's cap on a request body
constexpr std::streamsize kInputChunk = 64 << 10;

// `in` to its end, read in chunks with istream::read, which turns an exception
// of the stream buffer (libstdc++ throws reading a directory) into badbit.
// Refuses more than kMaxInput bytes; gives up when `deadline` passes between
// chunks (a read that blocks is not interrupted). `what` names the source.
std::expected<std::string, std::string> ReadStream(std::istream& in, const std::string& what, Deadline deadline) {
  std::string data;
  for (;;) {
    if (data.size() > kMaxInput) return std::unexpected(what + " is over 256 MiB, the most a call's input can be");
    if (deadline.Expired()) return std::unexpected("no end of input from " + what + " in time");
    const std::size_t at = data.size();
    data.resize(at + static_cast<std::size_t>(kInputChunk));
    in.read(data.data() + at, kInputChunk);
    data.resize(at + static_cast<std::size_t>(in.gcount()));
    if (in.bad()) return std::unexpected("cannot read " + what);
    if (in.eof()) return data;
  }
}

// The input of `call` as the command gives it: DATA, @file, - (stdin), none.
std::expected<std::string, std::string> ReadInput(const std::optional<std::string>& spec, std::istream& in,
                                                  Deadline deadline) {
  if (!spec) return std::string();
  if (*spec == "-") return ReadStream(in, "stdin", deadline);
  if (!spec->starts_with('@')) return *spec;
  const std::string path = spec->substr(1);
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return std::unexpected("cannot read " + path + ": is a directory");
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::unexpected("cannot read " + path + ": " + std::strerror(errno));
  return ReadStream(file, path, deadline);
}

int Runner::Call() {
  const Target& target = command_.targets[0];
  auto input = ReadInput(command_.input, io_.in, overall_);
  if (!input) {
    io_.err << "supervisorctl: " << input.error() << "\n";
    return kExitFailed;
  }
  const std::string path = ApiPath(target, "call") + "?method=" + UrlEncode(command_.method) + TimeoutQuery('&');
  auto response = Send("POST", path, *input, kLongWait);
  if (!response) return exit_;
  if (Ok(*response)) {
    io_.out << response->body;
    io_.out.flush();
    return io_.out.good() ? kExitOk : kExitFailed;
  }
  if (command_.json) io_.err << Trimmed(response->body) << "\n";
  if (!command_.json) io_.err << target.pool << "." << command_.method << ": ERROR ("
                              << DescribeApiError(response->status, response->body) << ")\n";
  return ExitCodeForApiError(response->status, ApiCode(response->body));
}

int Runner::Shutdown() {
  return Single("POST", "/v1/shutdown", "{}", kQuickWait, "shutdown",
                [&](const Json&) { io_.out << "shutting down\n"; });
}

int Runner::Version() {
  return Single("GET", "/v1/version", "", kQuickWait, "version", [&](const Json& v) {
    io_.out << StringOr(v, "name", "supervisor") << " " << StringOr(v, "version", "?") << " (api " << IntOr(v, "api")
            << "), pid " << IntOr(v, "pid") << ", uptime "
            << FormatUptime(std::chrono::milliseconds(IntOr(v, "uptime_ms"))) << ", config " << StringOr(v, "config")
            << "\n";
  });
}

// _pools: names for completion, or with a pool its workers' pool:N; silent on
// every failure.
int Runner::Pools() {
  if (!command_.targets.empty()) {
    auto response = Send("GET", ApiPath(command_.targets[0], ""), "", kPoolsWait);
    if (!response || !Ok(*response)) return kExitFailed;
    const Json pool = ParseObject(response->body);
    for (const Json& worker : ItemsOf(pool, "workers")) {
      io_.out << command_.targets[0].pool << ":" << IntOr(worker, "slot") << "\n";
    }
    return kExitOk;
  }
  auto names = PoolNames(kPoolsWait);
  if (!names) return kExitFailed;
  for (const std::string& name : *names) io_.out << name << "\n";
  return kExitOk;
}

int Runner::Run() {
  switch (command_.verb) {
    case Verb::kStatus: return Status();
    case Verb::kStart:
    case Verb::kStop:
    case Verb::kRestart: return Lifecycle();
    case Verb::kReread: return Changes(false);
    case Verb::kUpdate: return Changes(true);
    case Verb::kScale: return Scale();
    case Verb::kSignal: return SignalWorkers();
    case Verb::kPid: return Pid();
    case Verb::kTail: return Tail();
    case Verb::kCall: return Call();
    case Verb::kShutdown: return Shutdown();
    case Verb::kVersion: return Version();
    case Verb::kPools: return Pools();
    case Verb::kCheckConfig:
    case Verb::kHelp: break;
  }
  SV_CHECK(false && "help and check-config run without the daemon");
  return kExitFailed;
}

bool Unreachable(const Error& error) {
  if (error.code() != ErrorCode::kSystem) return false;
  switch (error.sys_errno()) {
    case ENOENT:
    case ECONNREFUSED:
    case EACCES:
    case EPERM:
    case ENOTDIR:
    case ENOTSOCK:
    case ENAMETOOLONG: return true;
    default: return false;
  }
}

}  // namespace

int RunVerb(const Command& command, const Client& client, const std::string& config, Streams io) {
  return Runner(command, client, config, io).Run();
}

int ExitCodeForApiError(int http_status, std::string_view code) {
  if (code == "NotFound" || code == "Forbidden" || http_status == 404 || http_status == 403) return kExitUnknown;
  if (code == "BadRequest") return kExitUsage;
  return kExitFailed;
}

int ExitCodeForClientError(const Error& error) { return Unreachable(error) ? kExitUnknown : kExitFailed; }

int WorseExitCode(int a, int b) {
  static constexpr std::array<int, 5> kOrder = {kExitOk, kExitNotRunning, kExitFailed, kExitUsage, kExitUnknown};
  auto rank = [](int code) { return std::ranges::find(kOrder, code) - kOrder.begin(); };
  return rank(a) >= rank(b) ? a : b;
}

std::string DescribeApiError(int http_status, std::string_view body) {
  const Json root = ParseObject(body);
  const Json* error = Find(root, "error");
  if (error == nullptr) {
    std::string text = "HTTP " + std::to_string(http_status);
    if (!body.empty()) text += ": " + std::string(body.substr(0, 200));
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  std::string text = StringOr(*error, "code", "HTTP " + std::to_string(http_status));
  for (const Json* holder : {error, &root}) {  // docs/api.md leaves its place open
    if (Find(*holder, "plugin_code") != nullptr) text += " (plugin code " + std::to_string(IntOr(*holder, "plugin_code")) + ")";
  }
  const std::string message = StringOr(*error, "message");
  return message.empty() ? text : text + ": " + message;
}

std::string DescribeClientError(const Error& error, const std::string& socket, const std::string& config) {
  if (error.code() == ErrorCode::kDeadlineExceeded) return "no answer from the supervisor at " + socket + " in time";
  if (!Unreachable(error)) return error.ToString();
  std::string text = "cannot reach the supervisor at " + socket + ": " + std::strerror(error.sys_errno());
  if (error.sys_errno() == EACCES || error.sys_errno() == EPERM) {
    return text + " (run as the daemon's user, or as a member of supervisor.socket_group)";
  }
  return text + " (is it running? start it with: supervisor -c " + (config.empty() ? "pools.yaml" : config) + ")";
}

std::string JsonQuote(std::string_view text) { return Dump(Json(text)); }

}  // namespace sv::ctl
