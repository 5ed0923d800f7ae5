// bench/ctl: what an operator waits for, with the real `supervisor` daemon
// (tests/helpers/daemon_process.h) and the real supervisorctl binary, each
// timed from the spawn of supervisorctl to its exit: `status` and
// `status --json` with 100 and 1,000 echo workers, `stop` of a pool of 100
// idle workers, and `call`; the daemon's RSS with 1,000 workers. Floors that
// split the status time: supervisorctl's start-up alone (`help`, no socket),
// one small request (`version`), and GET /v1/pools from this process (the
// daemon's side, no supervisorctl). Not a test: targets are reported (and
// enforced with --check). bench/supervisord_compare.sh reads --json.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/deadline.h"
#include "bench/report.h"
#include "tests/helpers/daemon_process.h"

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using sv::Deadline;
using sv::testing::DaemonProcess;
using sv::testing::ProgramResult;

constexpr int kExitSetup = 111;
constexpr int kCtlNotRunning = 3;  // supervisorctl status: some worker is not READY or BUSY

struct Flags {
  bool json = false, check = false, quick = false;
  int runs = 0, rounds = 0;  // 0: the default for --quick or not
};
Flags flags;

sv::bench::Results results;

void Report(std::string name, double value, std::string unit, double limit = 0) {
  results.Add(std::move(name), value, std::move(unit), limit);
}

using sv::bench::Ms;
using sv::bench::Percentile;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ctl: %s\n", what.c_str());
  std::exit(kExitSetup);
}

int Runs() { return flags.runs > 0 ? flags.runs : flags.quick ? 10 : 30; }
int Rounds() { return flags.rounds > 0 ? flags.rounds : flags.quick ? 3 : 10; }

// Reports the median (against `limit`) and the p90 of `ms` as name.p50/.p90.
void ReportSpread(const std::string& name, const std::vector<double>& ms, double limit = 0) {
  Report(name + ".p50", Percentile(ms, 0.5), "ms", limit);
  Report(name + ".p90", Percentile(ms, 0.9), "ms");
}

// One echo pool of `workers` workers; READY=1 comes once they are all READY
// (or the start timeout passed: the first status run would then exit 3).
std::unique_ptr<DaemonProcess> StartDaemon(int workers) {
  const std::string yaml = "pools:\n"
                           "  echo:\n"
                           "    plugin: @PLUGINS@/libecho_plugin.so\n"
                           "    workers: " + std::to_string(workers) + "\n"
                           "    start_timeout: 60s\n";
  auto daemon = DaemonProcess::Start(yaml, Deadline::After(120s));
  if (!daemon) Die("daemon with " + std::to_string(workers) + " workers: " + daemon.error().ToString());
  return std::move(*daemon);
}

// Runs `run` (which returns the exit code of what it ran) `n` times; the wall
// time of each run in ms. Any exit code but `expected` ends the benchmark.
std::vector<double> Sample(int n, int expected, const std::string& what, const std::function<ProgramResult()>& run) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    const auto start = steady_clock::now();
    const ProgramResult r = run();
    ms.push_back(Ms(steady_clock::now() - start));
    if (r.exit_code != expected) {
      Die(what + ": exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") + ": " + r.err);
    }
  }
  return ms;
}

std::vector<double> SampleCtl(const DaemonProcess& d, const std::vector<std::string>& args, int n) {
  std::string what = "supervisorctl";
  for (const auto& a : args) what += " " + a;
  return Sample(n, 0, what, [&] { return d.Ctl(args, Deadline::After(30s)); });
}

// A "Name:   123 kB" line of /proc/<pid>/status, in bytes.
std::uint64_t StatusBytes(pid_t pid, const std::string& name) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(name + ":", 0) == 0) return std::stoull(line.substr(name.size() + 1)) * 1024;
  }
  return 0;
}

// supervisorctl's own start-up and exit, with no daemon to talk to.
void CtlStartup() {
  const auto ms = Sample(Runs(), 0, "supervisorctl help", [] {
    return sv::testing::RunProgram({sv::testing::CtlPath(), "help"}, "", Deadline::After(30s));
  });
  ReportSpread("ctl_startup_help", ms);
}

// GET /v1/pools over a fresh connection from this process: the daemon's
// share of `status` (snapshot, JSON, HTTP), without supervisorctl.
void RawGetPools(const DaemonProcess& d, int workers) {
  std::size_t bytes = 0;
  const auto ms = Sample(Runs(), 0, "GET /v1/pools", [&] {
    auto response = d.Http("GET", "/v1/pools", "", Deadline::After(30s));
    if (!response) Die("GET /v1/pools: " + response.error().ToString());
    if (sv::testing::HttpStatus(*response) != 200) Die("GET /v1/pools: " + response->substr(0, 200));
    bytes = sv::testing::HttpBody(*response).size();
    return ProgramResult{.exit_code = 0};
  });
  const std::string at = "_" + std::to_string(workers) + "_workers";
  ReportSpread("http_get_pools" + at, ms);
  Report("http_get_pools" + at + ".body", static_cast<double>(bytes) / 1024, "KiB");
}

void Status(const DaemonProcess& d, int workers) {
  const std::string at = "_" + std::to_string(workers) + "_workers";
  // Every worker must be READY, or the numbers are not about `workers` workers.
  if (const ProgramResult r = d.Ctl({"status"}, Deadline::After(30s)); r.exit_code == kCtlNotRunning) {
    Die("not every worker is READY with " + std::to_string(workers) + " workers");
  }
  ReportSpread("status" + at, SampleCtl(d, {"status"}, Runs()), workers >= 1000 ? 20.0 : 0);
  ReportSpread("status_json" + at, SampleCtl(d, {"status", "--json"}, Runs()));
  RawGetPools(d, workers);
}

// `stop echo` of 100 idle workers, `start echo` (untimed; it waits until every
// worker is READY) between rounds.
void StopIdle(const DaemonProcess& d, int workers) {
  std::vector<double> ms;
  for (int i = 0; i < Rounds(); ++i) {
    ms.push_back(SampleCtl(d, {"stop", "echo"}, 1).front());
    (void)SampleCtl(d, {"start", "echo"}, 1);
  }
  ReportSpread("stop_" + std::to_string(workers) + "_idle_workers", ms, 50.0);
}

void With100() {
  auto d = StartDaemon(100);
  Status(*d, 100);
  ReportSpread("version", SampleCtl(*d, {"version"}, Runs()));
  StopIdle(*d, 100);
}

void With1000() {
  auto d = StartDaemon(1000);
  Status(*d, 1000);
  ReportSpread("call_echo_1000_workers", SampleCtl(*d, {"call", "echo", "echo", "x"}, Runs()));
  Report("daemon_rss_with_1000_workers", static_cast<double>(StatusBytes(d->pid(), "VmRSS")) / (1 << 20), "MiB");
  // The part of it that is the channels' first pages, shared with the workers.
  Report("daemon_rss_shmem_with_1000_workers", static_cast<double>(StatusBytes(d->pid(), "RssShmem")) / (1 << 20),
         "MiB");
}

void Print() {
  if (!results.Print(flags.json) && flags.check) std::exit(1);
}

// A positive count after a flag, or exit 100.
int Count(int argc, char** argv, int& i) {
  const int n = i + 1 < argc ? std::atoi(argv[i + 1]) : 0;
  if (n <= 0) {
    std::fprintf(stderr, "ctl: %s wants a positive count\n", argv[i]);
    std::exit(100);
  }
  ++i;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") flags.json = true;
    else if (arg == "--check") flags.check = true;
    else if (arg == "--quick") flags.quick = true;
    else if (arg == "--runs") flags.runs = Count(argc, argv, i);
    else if (arg == "--rounds") flags.rounds = Count(argc, argv, i);
    else {
      std::printf(
          "usage: ctl [--json] [--check] [--quick] [--runs N] [--rounds N]\n"
          "The real supervisor daemon driven by the real supervisorctl, timed from spawn\n"
          "to exit: status and status --json with 100 and 1,000 echo workers (p50/p90 of\n"
          "--runs, default 30), stop of 100 idle workers (p50 of --rounds, default 10,\n"
          "start between rounds), call echo, and the daemon's RSS with 1,000 workers.\n"
          "Floors: supervisorctl help (start-up alone), version (one small request), and\n"
          "GET /v1/pools from this process (the daemon's share). --quick: 10 runs,\n"
          "3 rounds. --check: exit 1 when a target is missed. Exit 111: set-up failed.\n");
      return arg == "--help" ? 0 : 100;
    }
  }
  CtlStartup();
  With100();
  With1000();
  Print();
  return 0;
}
