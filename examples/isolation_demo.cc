// The main demo: third-party libraries (sqlite, zlib) run in sv-worker child
// processes behind the shared-memory channel. A query that never returns costs
// the caller its deadline and the worker its life, a crash costs one worker,
// and the caller carries on. Runs in one trusted process that spawns workers.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/helpers/worker_process.h"

namespace {

using namespace std::chrono;
using sv::Deadline;
using sv::testing::DefaultSpawnOptions;
using sv::testing::WorkerProcess;

double Ms(steady_clock::duration d) { return duration<double, std::milli>(d).count(); }

std::unique_ptr<WorkerProcess> Start(const std::string& plugin, sv::testing::SpawnOptions options) {
  auto start = steady_clock::now();
  auto w = WorkerProcess::Start(std::move(options), Deadline::After(seconds(10)));
  if (!w) {
    std::printf("  cannot start the %s worker: %s\n", plugin.c_str(), w.error().ToString().c_str());
    return nullptr;
  }
  std::printf("  %s worker pid %d ready in %.1f ms\n", plugin.c_str(), (*w)->pid(), Ms(steady_clock::now() - start));
  return std::move(*w);
}

std::unique_ptr<WorkerProcess> Start(const std::string& plugin) { return Start(plugin, DefaultSpawnOptions(plugin)); }

void Show(const char* what, const std::expected<std::string, sv::Error>& out) {
  if (out) {
    // sqlite's rows are tab-separated lines; show them as "a b | c d".
    std::string text;
    for (char c : *out) text += c == '\t' ? std::string(" ") : c == '\n' ? std::string(" | ") : std::string(1, c);
    if (text.size() >= 3 && text.ends_with(" | ")) text.resize(text.size() - 3);
    if (text.size() > 200) text = text.substr(0, 200) + "...";
    std::printf("  %s -> %s\n", what, text.empty() ? "(no rows)" : text.c_str());
  } else {
    std::printf("  %s -> %s: %s\n", what, std::string(sv::ErrorCodeName(out.error().code())).c_str(),
                out.error().message().c_str());
  }
}

void KillAndReap(WorkerProcess& w) {
  auto start = steady_clock::now();
  (void)w.Signal(SIGKILL);
  auto exit = w.Wait(Deadline::After(seconds(10)));
  std::printf("  worker %d %s, reaped %.2f ms after SIGKILL through its pidfd\n", w.pid(),
              exit ? exit->ToString().c_str() : exit.error().ToString().c_str(), Ms(steady_clock::now() - start));
}

void Sqlite() {
  std::printf("\n1. sqlite, in a worker process\n");
  auto w = Start("sqlite");
  if (!w) return;
  const auto soon = [] { return Deadline::After(seconds(5)); };
  Show("CREATE TABLE + INSERT",
       w->channel().Call("query", "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT);"
                                  "INSERT INTO t(name) VALUES ('ada'), ('grace'), ('linus');", soon()));
  Show("SELECT", w->channel().Call("query", "SELECT id, name FROM t ORDER BY id", soon()));

  std::printf("\n2. a query that never returns, with a 500 ms deadline\n");
  const char* endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";
  auto start = steady_clock::now();
  auto out = w->channel().Call("query", endless, Deadline::After(milliseconds(500)));
  std::printf("  caller got %s after %.1f ms\n",
              out ? "an answer (unexpected)" : std::string(sv::ErrorCodeName(out.error().code())).c_str(),
              Ms(steady_clock::now() - start));
  KillAndReap(*w);
  auto fresh = Start("sqlite");
  if (fresh) Show("a fresh worker: SELECT sqlite_version()", fresh->channel().Call("query", "SELECT sqlite_version()", soon()));
}

void Zlib() {
  std::printf("\n3. zlib, in a worker process\n");
  auto w = Start("zlib");
  if (!w) return;
  std::string text;
  while (text.size() < (512 << 10)) text += "a supervisor for foreign code; ";
  auto packed = w->channel().Call("compress", text, Deadline::After(seconds(5)));
  if (!packed) return Show("compress", packed);
  std::printf("  compress %zu bytes -> %zu bytes\n", text.size(), packed->size());
  auto unpacked = w->channel().Call("decompress", *packed, Deadline::After(seconds(5)));
  std::printf("  decompress -> %s\n", unpacked && *unpacked == text ? "the same bytes" : "MISMATCH");
  Show("decompress of corrupt input", w->channel().Call("decompress", "definitely not zlib", Deadline::After(seconds(5))));
}

void Crash() {
  std::printf("\n4. a plugin that segfaults mid-call\n");
  auto w = Start("misbehave");
  if (!w) return;
  Show("segfault", w->channel().Call("segfault", "", Deadline::After(seconds(5))));
  auto exit = w->Wait(Deadline::After(seconds(5)));
  std::printf("  worker %d %s; this process carries on\n", w->pid(),
              exit ? exit->ToString().c_str() : exit.error().ToString().c_str());
}

void Latency(bool spin) {
  sv::testing::SpawnOptions options = DefaultSpawnOptions("echo");
  if (!spin) {
    options.channel.spin.budget = nanoseconds(0);
    options.worker.spin.budget = nanoseconds(0);
  }
  auto w = WorkerProcess::Start(options, Deadline::After(seconds(10)));
  if (!w) return;
  std::vector<double> us;
  for (int i = 0; i < 20000; ++i) {
    auto start = steady_clock::now();
    auto out = (*w)->channel().Call("echo", "", Deadline::After(seconds(5)));
    if (!out) return Show("echo", out);
    us.push_back(duration<double, std::micro>(steady_clock::now() - start).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("  20000 empty calls, %-13s p50 %6.2f us, p99 %6.2f us\n", spin ? "spinning:" : "not spinning:",
              us[us.size() / 2], us[us.size() * 99 / 100]);
}

}  // namespace

int main() {
  std::printf("Foreign code in sv-worker processes, called over shared memory.\n");
  Sqlite();
  Zlib();
  Crash();
  std::printf("\n5. what a call costs (echo plugin; ./run bench ipc_roundtrip for the full comparison)\n");
  Latency(true);
  Latency(false);
  return 0;
}
