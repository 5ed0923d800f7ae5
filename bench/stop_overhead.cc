// stop_overhead: the per-call cost of stop-awareness when no stop comes. Raw
// getppid and eventfd write+read baselines against stop::SyscallOrStop and
// stop::Read under each strategy, all in one run of one process. Benchmark process.
//
// Figures are medians: unless the command line says otherwise every row warms up
// for 0.1 s and runs --benchmark_repetitions=10, with the repetitions of all rows
// randomly interleaved (the machine's speed drifts; rows run back to back would
// each see a different machine); the console shows only aggregates.
// --json prints instead one JSON object per line: each row's median
// "<row>.ns_per_call" in thread CPU time (user + system; unlike wall time it leaves
// out time spent preempted, which swamps a syscall on a shared machine) and, for
// stop-aware rows, "<row>.over_raw": that median over its raw baseline's, same run.
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "stop/calls.h"
#include "stop/strategy.h"

namespace sv::bench {
namespace {

using stop::Strategy;

constexpr std::string_view kJsonFlag = "--json";
constexpr int kExitUsage = 100;

// The raw row that a stop-aware row is compared with; empty for raw rows.
std::string_view BaselineOf(std::string_view row) {
  if (row.starts_with("SyscallOrStop_getppid/")) return "raw_syscall_getppid";
  if (row.starts_with("stop_Read_eventfd")) return "raw_read_eventfd";
  return {};
}

// Skips the row (false) when `strategy` cannot run here.
bool UseStrategy(benchmark::State& state, Strategy strategy) {
  if (!stop::Available(strategy)) {
    state.SkipWithError("strategy not available on this machine");
    return false;
  }
  Status ok = stop::SetStrategy(strategy);
  if (!ok) state.SkipWithError(ok.error().ToString().c_str());
  return ok.has_value();
}

void RawGetppid(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(::syscall(SYS_getppid));
}

void StopGetppid(benchmark::State& state, Strategy strategy) {
  if (!UseStrategy(state, strategy)) return;
  std::stop_source source;  // live stop state: each call registers its callback
  std::stop_token token = source.get_token();
  for (auto _ : state) {
    auto r = stop::SyscallOrStop(token, SYS_getppid);
    if (!r) return state.SkipWithError(r.error().ToString().c_str());
    benchmark::DoNotOptimize(*r);
  }
}

// A blocking (not EFD_NONBLOCK) eventfd; skips the row when it cannot be made.
UniqueFd MakeEventFd(benchmark::State& state) {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
  if (!fd) state.SkipWithError("eventfd failed");
  return fd;
}

// Makes the eventfd readable, so the read after it never blocks.
bool Signal(benchmark::State& state, int fd) {
  const std::uint64_t one = 1;
  if (::write(fd, &one, sizeof one) == sizeof one) return true;
  state.SkipWithError("eventfd write failed");
  return false;
}

void RawReadEventFd(benchmark::State& state) {
  UniqueFd fd = MakeEventFd(state);
  if (!fd) return;
  std::uint64_t value = 0;
  for (auto _ : state) {
    if (!Signal(state, fd.get())) return;
    if (::read(fd.get(), &value, sizeof value) != sizeof value) {
      return state.SkipWithError("eventfd read failed");
    }
  }
}

// `live_token` false passes a token with no stop state: stopping is impossible.
void StopReadEventFd(benchmark::State& state, Strategy strategy, bool live_token) {
  UniqueFd fd = MakeEventFd(state);
  if (!fd || !UseStrategy(state, strategy)) return;
  std::stop_source source;
  std::stop_token token = live_token ? source.get_token() : std::stop_token{};
  std::uint64_t value = 0;
  auto buf = std::as_writable_bytes(std::span(&value, 1));
  for (auto _ : state) {
    if (!Signal(state, fd.get())) return;
    auto r = stop::Read(token, fd.get(), buf);
    if (!r) return state.SkipWithError(r.error().ToString().c_str());
  }
}

// Every row in ns, which the JSON reporter relies on.
template <class... Args>
void Add(const std::string& name, Args&&... args) {
  benchmark::RegisterBenchmark(name.c_str(), std::forward<Args>(args)...)
      ->Unit(benchmark::kNanosecond);
}

std::string WithStrategy(std::string_view row, Strategy strategy) {
  return std::string(row) + "/" + std::string(stop::StrategyName(strategy));
}

void Register() {
  Add("raw_syscall_getppid", RawGetppid);
  for (Strategy s : {Strategy::kRseq, Strategy::kSignalPc}) {
    Add(WithStrategy("SyscallOrStop_getppid", s), StopGetppid, s);
  }
  Add("raw_read_eventfd", RawReadEventFd);
  for (Strategy s : {Strategy::kRseq, Strategy::kSignalPc, Strategy::kSigmask, Strategy::kEventFd}) {
    Add(WithStrategy("stop_Read_eventfd", s), StopReadEventFd, s, true);
  }
  Add(WithStrategy("stop_Read_eventfd_no_token", Strategy::kRseq), StopReadEventFd,
      Strategy::kRseq, false);
}

// Collects each row's median and prints JSON lines once every row has run, since
// a ratio needs its baseline, which may come later in the run.
class JsonLinesReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const std::string& name = run.run_name.function_name;
      if (run.error_occurred && run.repetition_index <= 0) {  // once, not per repetition
        std::fprintf(stderr, "stop_overhead: %s skipped: %s\n", name.c_str(),
                     run.error_message.c_str());
      } else if (!run.error_occurred && IsMedian(run)) {
        medians_ns_.emplace_back(name, run.GetAdjustedCPUTime());
      }
    }
  }

  void Finalize() override {
    for (const auto& [name, ns] : medians_ns_) {
      Print(name + ".ns_per_call", ns, "ns");
      double raw = MedianOf(BaselineOf(name));
      if (raw > 0) Print(name + ".over_raw", ns / raw, "ratio");
    }
  }

 private:
  // With --benchmark_repetitions=1 there are no aggregates: the one run is the median.
  static bool IsMedian(const Run& run) {
    if (run.run_type == Run::RT_Aggregate) return run.aggregate_name == "median";
    return run.repetitions <= 1;
  }

  // Row names are plain ASCII without quotes or backslashes: no escaping needed.
  static void Print(const std::string& name, double value, const char* unit) {
    std::printf("{\"name\":\"stop_overhead.%s\",\"value\":%.3f,\"unit\":\"%s\"}\n", name.c_str(),
                value, unit);
  }

  // 0 when the row did not run (or `name` is empty).
  double MedianOf(std::string_view name) const {
    auto row = std::ranges::find(medians_ns_, name, [](const auto& r) { return r.first; });
    return row == medians_ns_.end() ? 0 : row->second;
  }

  std::vector<std::pair<std::string, double>> medians_ns_;  // in the order rows ran
};

// argv without --json, plus the defaults above for flags the user did not pass.
std::vector<char*> BenchmarkArgs(int argc, char** argv, bool& json) {
  static char repetitions[] = "--benchmark_repetitions=10";
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  static char aggregates_only[] = "--benchmark_display_aggregates_only=true";
  static char warmup[] = "--benchmark_min_warmup_time=0.1";  // the first row was noisy
  std::vector<char*> args(argv, argv + argc);
  json = std::erase_if(args, [](std::string_view arg) { return arg == kJsonFlag; }) > 0;
  for (char* flag : {repetitions, interleave, aggregates_only, warmup}) {
    std::string_view name = std::string_view(flag).substr(0, std::string_view(flag).find('='));
    if (std::ranges::none_of(args, [&](std::string_view a) { return a.starts_with(name); })) {
      args.push_back(flag);
    }
  }
  return args;
}

}  // namespace
}  // namespace sv::bench

int main(int argc, char** argv) {
  bool json = false;
  std::vector<char*> args = sv::bench::BenchmarkArgs(argc, argv, json);
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return sv::bench::kExitUsage;
  sv::bench::Register();
  sv::bench::JsonLinesReporter json_reporter;
  benchmark::RunSpecifiedBenchmarks(json ? &json_reporter : nullptr);
  benchmark::Shutdown();
  return 0;
}
