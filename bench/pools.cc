// bench/pools: what the embedded supervisor costs and how fast it reacts, with
// real sv-worker processes: the error latency of a hung call past its
// deadline, the time from that kill to a READY replacement, calls/s through a
// 2-worker echo pool from 1, 2 and 8 caller threads, the time to start 100 and
// 1,000 workers and this process's RSS with them, and the time to stop 100
// idle workers. Not a test: targets are reported (and enforced with --check).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "supervisor/supervisor.h"
#include "bench/report.h"
#include "tests/helpers/worker_process.h"

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using sv::Deadline;
using sv::supervisor::Supervisor;

constexpr int kExitSetup = 111;

struct Flags {
  bool json = false, check = false, quick = false, process_groups = false;
};
Flags flags;

sv::bench::Results results;

void Report(std::string name, double value, std::string unit, double limit = 0) {
  results.Add(std::move(name), value, std::move(unit), limit);
}

using sv::bench::Ms;
using sv::bench::Percentile;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pools: %s\n", what.c_str());
  std::exit(kExitSetup);
}

sv::config::PoolConfig Pool(const std::string& name, const std::string& plugin, std::uint32_t workers) {
  sv::config::PoolConfig pool;
  pool.name = name;
  pool.plugin = sv::testing::PluginPath(plugin);
  pool.workers = workers;
  pool.start_timeout = 30s;
  pool.stop_timeout = 2s;
  pool.channel.request = 64 << 10;
  pool.channel.response = 64 << 10;
  return pool;
}

std::unique_ptr<Supervisor> Launch(std::vector<sv::config::PoolConfig> pools) {
  sv::config::Config config;
  for (auto& p : pools) config.pools[p.name] = p;
  auto s = Supervisor::Create(config, {.worker_path = sv::testing::WorkerPath(), .use_cgroups = !flags.process_groups});
  if (!s) Die(s.error().ToString());
  for (auto& p : pools) {
    if (auto ready = (*s)->WaitReady(p.name, Deadline::After(60s)); !ready) Die(ready.error().ToString());
  }
  return std::move(*s);
}

// A "Name:   123 kB" line of /proc/self/status, in bytes.
std::uint64_t StatusBytes(const std::string& name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(name + ":", 0) == 0) return std::stoull(line.substr(name.size() + 1)) * 1024;
  }
  return 0;
}
std::uint64_t SelfRssBytes() { return StatusBytes("VmRSS"); }

// A hung call with a 20 ms deadline: how late the caller gets its error, and
// how long until the killed worker's replacement is READY.
void HungCalls(int samples) {
  auto s = Launch({Pool("hang", "misbehave", 1)});
  std::vector<double> late_ms, replace_ms;
  for (int i = 0; i < samples; ++i) {
    const Deadline deadline = Deadline::After(20ms);
    auto out = s->pool("hang")->Call("hang_futex", "", deadline);
    const auto returned = steady_clock::now();
    if (out || out.error().code() != sv::ErrorCode::kDeadlineExceeded) Die("hung call did not time out");
    late_ms.push_back(Ms(returned - deadline.when()));
    if (auto ready = s->WaitReady("hang", Deadline::After(10s)); !ready) Die(ready.error().ToString());
    replace_ms.push_back(Ms(steady_clock::now() - returned));
  }
  Report("hung_call.error_past_deadline.p50", Percentile(late_ms, 0.5), "ms");
  Report("hung_call.error_past_deadline.p99", Percentile(late_ms, 0.99), "ms", 1.0);
  Report("hung_call.replacement_ready.p50", Percentile(replace_ms, 0.5), "ms", 2.0);
  Report("hung_call.replacement_ready.p99", Percentile(replace_ms, 0.99), "ms");
}

// As HungCalls, in a pool with one warm spare: how long the next caller waits
// for a READY worker after the kill (the spare takes over; a new spare starts).
void HungCallsWithSpare(int samples) {
  sv::config::PoolConfig pool = Pool("spare", "misbehave", 1);
  pool.spare_workers = 1;
  auto s = Launch({pool});
  std::vector<double> next_ms;
  for (int i = 0; i < samples; ++i) {
    if (auto ready = s->WaitReady("spare", Deadline::After(10s)); !ready) Die(ready.error().ToString());
    auto out = s->pool("spare")->Call("hang_futex", "", Deadline::After(20ms));
    if (out || out.error().code() != sv::ErrorCode::kDeadlineExceeded) Die("hung call did not time out");
    const auto returned = steady_clock::now();
    if (auto next = s->pool("spare")->Call("echo", "", Deadline::After(10s)); !next) Die(next.error().ToString());
    next_ms.push_back(Ms(steady_clock::now() - returned));
  }
  Report("hung_call.with_spare.next_call_done.p50", Percentile(next_ms, 0.5), "ms", 2.0);
  Report("hung_call.with_spare.next_call_done.p99", Percentile(next_ms, 0.99), "ms");
}

void Throughput(int calls_per_thread) {
  auto s = Launch({Pool("echo", "echo", 2)});
  for (int threads : {1, 2, 8}) {
    std::atomic<int> failures{0};
    const auto start = steady_clock::now();
    {
      std::vector<std::jthread> callers;
      for (int t = 0; t < threads; ++t) {
        callers.emplace_back([&] {
          for (int i = 0; i < calls_per_thread; ++i) failures += !s->pool("echo")->Call("echo", "ping");
        });
      }
    }
    const double seconds_taken = duration<double>(steady_clock::now() - start).count();
    if (failures != 0) Die("echo calls failed");
    Report("echo_pool_2_workers.threads_" + std::to_string(threads), threads * calls_per_thread / seconds_taken,
           "calls/s");
  }
}

void StartMany(std::uint32_t workers, bool report_rss) {
  const std::uint64_t rss_before = SelfRssBytes();
  const auto start = steady_clock::now();
  auto s = Launch({Pool("many", "echo", workers)});
  const double ms = Ms(steady_clock::now() - start);
  Report("start_" + std::to_string(workers) + "_workers", ms, "ms", workers >= 1000 ? 1000.0 : 0);
  if (report_rss) {
    Report("supervisor_rss_with_" + std::to_string(workers) + "_workers",
           static_cast<double>(SelfRssBytes()) / (1 << 20), "MiB", 10.0);
    Report("supervisor_rss_growth_with_" + std::to_string(workers) + "_workers",
           static_cast<double>(SelfRssBytes() - rss_before) / (1 << 20), "MiB");
    // The part of it that is the channels' first pages, shared with the workers.
    Report("supervisor_rss_shmem_with_" + std::to_string(workers) + "_workers",
           static_cast<double>(StatusBytes("RssShmem")) / (1 << 20), "MiB");
  }
}

void StopIdle(std::uint32_t workers, int rounds) {
  std::vector<double> ms;
  for (int i = 0; i < rounds; ++i) {
    auto s = Launch({Pool("idle", "echo", workers)});
    const auto start = steady_clock::now();
    auto report = s->Stop("idle", Deadline::After(30s));
    ms.push_back(Ms(steady_clock::now() - start));
    if (!report) Die(report.error().ToString());
    for (const auto& w : report->workers) {
      if (w.outcome != sv::supervisor::StopReport::Outcome::kGraceful) Die("an idle worker had to be killed");
    }
  }
  Report("stop_" + std::to_string(workers) + "_idle_workers.p50", Percentile(ms, 0.5), "ms", 50.0);
}

void Print() {
  if (!results.Print(flags.json) && flags.check) std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") flags.json = true;
    else if (arg == "--check") flags.check = true;
    else if (arg == "--quick") flags.quick = true;
    else if (arg == "--process-groups") flags.process_groups = true;
    else {
      std::printf(
          "usage: pools [--json] [--check] [--quick]\n"
          "The embedded supervisor with real sv-worker processes: hung-call error latency\n"
          "past a 20 ms deadline and time to a READY replacement (p50/p99 of 200 calls),\n"
          "the same with a warm spare (time until the next call is answered),\n"
          "calls/s through a 2-worker echo pool from 1, 2 and 8 threads, time to start\n"
          "100 and 1,000 workers and this process's RSS with them, time to stop 100 idle\n"
          "workers (p50 of 10). --quick: fewer samples and 100 workers at most, for CI.\n"
          "--check: exit 1 when a target is missed. Exit 111: set-up failed.\n");
      return arg == "--help" ? 0 : 100;
    }
  }
  HungCalls(flags.quick ? 20 : 200);
  HungCallsWithSpare(flags.quick ? 20 : 200);
  Throughput(flags.quick ? 2000 : 50000);
  StartMany(100, false);
  if (!flags.quick) StartMany(1000, true);
  StopIdle(100, flags.quick ? 2 : 10);
  Print();
  return 0;
}
