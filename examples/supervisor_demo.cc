// The main demo: pools of sqlite and zlib workers declared in YAML
// (examples/pools.yaml), called from C++ through the embedded supervisor. A
// query that never returns costs its caller the pool's call_timeout and its
// worker its life; a fresh worker takes its place, and the pool serves on.
// Runs in one trusted process; the workers are its children.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "config/load.h"
#include "supervisor/supervisor.h"

namespace {

using namespace std::chrono;
using sv::Deadline;
using sv::supervisor::PoolStatus;
using sv::supervisor::Supervisor;

double Ms(steady_clock::duration d) { return duration<double, std::milli>(d).count(); }

std::string Printable(const std::string& bytes) {
  // sqlite's rows are tab-separated lines; show them as "a b | c d".
  std::string text;
  for (char c : bytes) text += c == '\t' ? std::string(" ") : c == '\n' ? std::string(" | ") : std::string(1, c);
  if (text.size() >= 3 && text.ends_with(" | ")) text.resize(text.size() - 3);
  if (text.size() > 100) text = text.substr(0, 100) + "...";
  return text.empty() ? "(no rows)" : text;
}

void Show(const char* what, const std::expected<std::string, sv::Error>& out, steady_clock::duration took) {
  if (out) {
    std::printf("  %-34s -> %s  (%.2f ms)\n", what, Printable(*out).c_str(), Ms(took));
  } else {
    std::printf("  %-34s -> %s after %.1f ms: %s\n", what, std::string(sv::ErrorCodeName(out.error().code())).c_str(),
                Ms(took), out.error().message().c_str());
  }
}

std::expected<std::string, sv::Error> Timed(Supervisor& s, const char* pool, const char* method, std::string input,
                                            const char* label) {
  const auto start = steady_clock::now();
  auto out = s.pool(pool)->Call(method, input);
  Show(label, out, steady_clock::now() - start);
  return out;
}

// supervisorctl's shape: one line per worker.
void PrintStatus(const Supervisor& s) {
  for (const PoolStatus& pool : s.Snapshot()) {
    std::printf("  %-10s %-9s calls %llu, restarts %llu, kills %llu, kill scope: %s, spawner: %s\n", pool.name.c_str(),
                std::string(PoolStateName(pool.state)).c_str(), static_cast<unsigned long long>(pool.calls),
                static_cast<unsigned long long>(pool.restarts), static_cast<unsigned long long>(pool.kills),
                pool.kill_scope.c_str(), pool.spawner.c_str());
    for (const auto& w : pool.workers) {
      const auto up = duration_cast<milliseconds>(w.uptime).count();
      std::printf("    %s:%u %-8s pid %d, uptime %lld.%03llds, calls %llu, rss %.1f MiB%s\n", pool.name.c_str(),
                  w.slot, std::string(WorkerStateName(w.state)).c_str(), w.pid, static_cast<long long>(up / 1000),
                  static_cast<long long>(up % 1000), static_cast<unsigned long long>(w.calls),
                  static_cast<double>(w.rss_bytes) / (1 << 20),
                  w.last_exit ? (", previous worker " + w.last_exit->ToString()).c_str() : "");
    }
  }
}

void Zlib(Supervisor& s) {
  std::printf("\n2. zlib in a pool of 2 workers\n");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the quick brown fox jumps over the lazy dog. ";
  const auto start = steady_clock::now();
  auto packed = s.pool("zlib")->Call("compress", text);
  if (!packed) Show("compress 9000 bytes of text", packed, steady_clock::now() - start);
  if (packed) {
    std::printf("  %-34s -> %zu bytes  (%.2f ms)\n", "compress 9000 bytes of text", packed->size(),
                Ms(steady_clock::now() - start));
    auto back = Timed(s, "zlib", "decompress", *packed, "decompress it");
    std::printf("  %-34s    round trip %s\n", "", back && *back == text ? "intact" : "BROKEN");
  }
  (void)Timed(s, "zlib", "decompress", "not zlib at all", "decompress garbage");
}

void Sqlite(Supervisor& s) {
  std::printf("\n3. sqlite in a pool of 2 workers, call_timeout 500ms\n");
  (void)Timed(s, "sqlite", "query",
              "CREATE TABLE people(id, name); INSERT INTO people VALUES (1, 'ada'), (2, 'grace');"
              " SELECT * FROM people",
              "CREATE + INSERT + SELECT");
  (void)Timed(s, "sqlite", "query", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
              "a recursive query that never ends");
  (void)Timed(s, "sqlite", "query", "SELECT sqlite_version()", "the next call");
  if (auto ready = s.WaitReady("sqlite", Deadline::After(seconds(5))); ready) {
    std::printf("  %-34s    the killed worker's replacement is READY\n", "");
  }
}

void Throughput(Supervisor& s) {
  std::printf("\n4. 8 threads calling the echo pool at once\n");
  constexpr int kThreads = 8, kCalls = 20000;
  std::vector<std::jthread> threads;
  std::atomic<int> failures{0};
  const auto start = steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) failures += !s.pool("echo")->Call("echo", "ping");
    });
  }
  threads.clear();
  const double seconds_taken = duration<double>(steady_clock::now() - start).count();
  std::printf("  %d calls in %.2f s: %.0f calls/s, %d failed\n", kThreads * kCalls, seconds_taken,
              kThreads * kCalls / seconds_taken, failures.load());
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : SV_EXAMPLES_DIR "/pools.yaml";
  auto config = sv::config::LoadFile(path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().ToString().c_str());
    return 100;
  }
  std::printf("1. %s: %zu pools\n", path.c_str(), config->pools.size());
  const auto start = steady_clock::now();
  auto supervisor = Supervisor::Create(*config);
  if (!supervisor) {
    std::fprintf(stderr, "supervisor: %s\n", supervisor.error().ToString().c_str());
    return 111;
  }
  Supervisor& s = **supervisor;
  for (const auto& [name, pool] : config->pools) {
    if (auto ready = s.WaitReady(name, Deadline::After(seconds(10))); !ready) {
      std::fprintf(stderr, "%s\n", ready.error().ToString().c_str());
      return 111;
    }
  }
  std::printf("  every worker READY %.1f ms after start\n", Ms(steady_clock::now() - start));
  PrintStatus(s);
  Zlib(s);
  Sqlite(s);
  if (config->pools.contains("echo")) Throughput(s);
  std::printf("\n5. status\n");
  PrintStatus(s);
  std::printf("\n6. stop\n");
  for (const auto& [name, pool] : config->pools) {
    const auto t0 = steady_clock::now();
    auto report = s.Stop(name, Deadline::After(seconds(10)));
    if (!report) {
      std::printf("  %s: %s\n", name.c_str(), report.error().ToString().c_str());
      continue;
    }
    std::string outcome;
    for (const auto& w : report->workers) {
      outcome += " " + name + ":" + std::to_string(w.slot) + " " + std::string(StopOutcomeName(w.outcome)) + ";";
    }
    std::printf("  %-8s in %5.2f ms:%s\n", name.c_str(), Ms(steady_clock::now() - t0), outcome.c_str());
  }
  return 0;
}
