#include "daemon/metrics.h"

#include <gtest/gtest.h>

namespace sv::daemon {
namespace {

supervisor::PoolStatus Pool(std::string name) {
  supervisor::PoolStatus pool;
  pool.name = std::move(name);
  pool.state = supervisor::PoolState::kRunning;
  return pool;
}

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(Metrics, HistogramBucketsAreCumulativeAndEndWithTheCount) {
  supervisor::PoolStatus pool = Pool("zlib");
  pool.durations.counts[0] = 2;  // <= 100us
  pool.durations.counts[3] = 1;  // <= 1ms
  pool.durations.counts.back() = 1;  // over 10 s
  pool.durations.sum_seconds = 12.5;
  const std::string text = RenderMetrics({pool});
  EXPECT_TRUE(Has(text, R"(sv_call_duration_seconds_bucket{pool="zlib",le="0.0001"} 2)")) << text;
  EXPECT_TRUE(Has(text, R"(sv_call_duration_seconds_bucket{pool="zlib",le="0.00025"} 2)"));
  EXPECT_TRUE(Has(text, R"(sv_call_duration_seconds_bucket{pool="zlib",le="0.001"} 3)"));
  EXPECT_TRUE(Has(text, R"(sv_call_duration_seconds_bucket{pool="zlib",le="10"} 3)"));
  EXPECT_TRUE(Has(text, R"(sv_call_duration_seconds_bucket{pool="zlib",le="+Inf"} 4)"));
  EXPECT_TRUE(Has(text, R"(sv_call_duration_seconds_count{pool="zlib"} 4)"));
  EXPECT_TRUE(Has(text, R"(sv_call_duration_seconds_sum{pool="zlib"} 12.5)"));
}

TEST(Metrics, CountsFailuresByKindAndWorkersByState) {
  supervisor::PoolStatus pool = Pool("sqlite");
  pool.calls = 7;
  pool.failures["DeadlineExceeded"] = 2;
  pool.waiting_callers = 3;
  pool.workers.push_back({.slot = 0, .state = supervisor::WorkerState::kBusy});
  pool.workers.push_back({.slot = 1, .state = supervisor::WorkerState::kBusy});
  pool.workers.push_back({.slot = 2, .state = supervisor::WorkerState::kStopped});
  pool.stderr_log.dropped = 9;
  const std::string text = RenderMetrics({pool, Pool("echo")});
  EXPECT_TRUE(Has(text, R"(sv_calls_total{pool="sqlite"} 7)")) << text;
  EXPECT_TRUE(Has(text, R"(sv_call_failures_total{pool="sqlite",kind="DeadlineExceeded"} 2)"));
  EXPECT_TRUE(Has(text, R"(sv_queue_depth{pool="sqlite"} 3)"));
  EXPECT_TRUE(Has(text, R"(sv_workers{pool="sqlite",state="BUSY"} 2)"));
  EXPECT_TRUE(Has(text, R"(sv_workers{pool="sqlite",state="STOPPED"} 1)"));
  EXPECT_TRUE(Has(text, R"(sv_workers{pool="sqlite",state="READY"} 0)"));
  EXPECT_TRUE(Has(text, R"(sv_log_lines_dropped_total{pool="sqlite",stream="stderr"} 9)"));
  EXPECT_TRUE(Has(text, "sv_pools 2"));
  EXPECT_TRUE(Has(text, "# TYPE sv_call_duration_seconds histogram"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  const std::string text = RenderMetrics({Pool("a\"b\\c")});
  EXPECT_TRUE(Has(text, R"(sv_calls_total{pool="a\"b\\c"} 0)")) << text;
}

}  // namespace
}  // namespace sv::daemon
