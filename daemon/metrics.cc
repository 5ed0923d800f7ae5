#include "daemon/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

namespace sv::daemon {

namespace {

using supervisor::PoolStatus;

// Label values: backslash, double quote and newline escaped.
std::string Escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

std::string Number(double v) {
  if (std::isinf(v)) return "+Inf";
  char buffer[400];  // the longest fixed double
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed).ptr;  // shortest exact
  return std::string(buffer, end);
}

class Writer {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, double value) {
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + Number(value) + "\n";
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string PoolLabel(const PoolStatus& pool) { return "pool=\"" + Escape(pool.name) + "\""; }

void Counters(Writer& w, const std::vector<PoolStatus>& pools) {
  w.Family("sv_calls_total", "counter", "Calls answered, successful or not.");
  for (const auto& p : pools) w.Sample("sv_calls_total", PoolLabel(p), static_cast<double>(p.calls));
  w.Family("sv_call_failures_total", "counter", "Failed calls by kind (error code).");
  for (const auto& p : pools) {
    for (const auto& [kind, n] : p.failures) {
      w.Sample("sv_call_failures_total", PoolLabel(p) + ",kind=\"" + Escape(kind) + "\"", static_cast<double>(n));
    }
  }
  w.Family("sv_restarts_total", "counter", "Replacement workers started after a failure.");
  for (const auto& p : pools) w.Sample("sv_restarts_total", PoolLabel(p), static_cast<double>(p.restarts));
  w.Family("sv_kills_total", "counter", "SIGKILLs sent to workers.");
  for (const auto& p : pools) w.Sample("sv_kills_total", PoolLabel(p), static_cast<double>(p.kills));
}

void Durations(Writer& w, const std::vector<PoolStatus>& pools) {
  w.Family("sv_call_duration_seconds", "histogram", "How long calls took, queueing included.");
  for (const auto& p : pools) {
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < supervisor::kCallDurationBounds.size(); ++i) {
      running += p.durations.counts[i];
      w.Sample("sv_call_duration_seconds_bucket",
               PoolLabel(p) + ",le=\"" + Number(supervisor::kCallDurationBounds[i]) + "\"",
               static_cast<double>(running));
    }
    w.Sample("sv_call_duration_seconds_sum", PoolLabel(p), p.durations.sum_seconds);
    w.Sample("sv_call_duration_seconds_count", PoolLabel(p), static_cast<double>(running));
  }
}

void Gauges(Writer& w, const std::vector<PoolStatus>& pools) {
  w.Family("sv_queue_depth", "gauge", "Callers waiting for a free worker.");
  for (const auto& p : pools) w.Sample("sv_queue_depth", PoolLabel(p), p.waiting_callers);
  w.Family("sv_workers", "gauge", "Worker slots by state.");
  for (const auto& p : pools) {
    std::map<std::string, int> by_state;
    for (auto state : {supervisor::WorkerState::kStarting, supervisor::WorkerState::kReady,
                       supervisor::WorkerState::kBusy, supervisor::WorkerState::kStopping,
                       supervisor::WorkerState::kBackoff, supervisor::WorkerState::kFatal, supervisor::WorkerState::kStopped}) {
      by_state[std::string(supervisor::WorkerStateName(state))] = 0;
    }
    for (const auto& worker : p.workers) ++by_state[std::string(supervisor::WorkerStateName(worker.state))];
    for (const auto& [state, n] : by_state) {
      w.Sample("sv_workers", PoolLabel(p) + ",state=\"" + state + "\"", n);
    }
  }
  w.Family("sv_pool_up", "gauge", "1 while the pool is RUNNING.");
  for (const auto& p : pools) {
    w.Sample("sv_pool_up", PoolLabel(p), p.state == supervisor::PoolState::kRunning ? 1 : 0);
  }
}

void LogCounters(Writer& w, const std::vector<PoolStatus>& pools) {
  w.Family("sv_log_lines_dropped_total", "counter", "Worker output lines not kept (evicted or never kept).");
  for (const auto& p : pools) {
    w.Sample("sv_log_lines_dropped_total", PoolLabel(p) + ",stream=\"stdout\"", static_cast<double>(p.stdout_log.dropped));
    w.Sample("sv_log_lines_dropped_total", PoolLabel(p) + ",stream=\"stderr\"", static_cast<double>(p.stderr_log.dropped));
  }
}

}  // namespace

std::string RenderMetrics(const std::vector<PoolStatus>& pools) {
  Writer w;
  w.Family("sv_up", "gauge", "1: the supervisor answers.");
  w.Sample("sv_up", "", 1);
  w.Family("sv_pools", "gauge", "Pools configured.");
  w.Sample("sv_pools", "", static_cast<double>(pools.size()));
  Counters(w, pools);
  Durations(w, pools);
  Gauges(w, pools);
  LogCounters(w, pools);
  return w.Take();
}

}  // namespace sv::daemon
