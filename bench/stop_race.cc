// stop_race: randomized trials that stop a thread looping on a blocking recv, to
// count missed stops and measure stop latency for a racy baseline, each stop/
// strategy and StopEventFd, against a raw eventfd wake-up floor. Benchmark process.
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "stop/calls.h"
#include "stop/internal/testing.h"
#include "stop/stop_event_fd.h"
#include "stop/strategy.h"

namespace sv::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kMissAfter = 50ms;         // still blocked this long after the request: missed
constexpr auto kUnblockBound = 2s;        // a missed thread must exit this soon once unblocked
constexpr auto kSpinBeforeSleep = 200us;  // trials are microseconds apart: spin, then futex
constexpr int kExitMissed = 1, kExitUsage = 100, kExitBug = 101, kExitSetup = 111;

constexpr std::string_view kHelp = R"(usage: stop_race [flags]
Stops a thread blocked in recv() on a quiet 127.0.0.1 UDP socket at random moments
and counts missed stops (still asleep in the call 50 ms after the request; a thread
that is runnable then was woken and is only late) and stop latency:
naive (check, then recv; woken by a signal), rseq, signal-pc, sigmask, eventfd
(stop::Recv under each strategy), StopEventFd (the caller's own poll loop with a
StopEventFd), each also with a widened check-to-syscall window
("+window"); and a raw eventfd wake-up floor. All variants and the floor take
turns in 100 interleaved blocks, so drift in machine speed hits them alike. Main
and looping threads are pinned to two CPUs (else the scheduler often stacks them
on one).
  --trials N  (1000000)   --floor-samples N (100000)   --seed N (1)
  --window N  pause loops in "+window" rows (1000, ~5 us; the run prints it)
  --max-misses M  (100)   a variant stops after M misses: each costs 50 ms, so this
              bounds the naive baseline's run time; "trials" shows those run
  --max-delay-us N  (20)  random delay before each stop, uniform in [0, N]
  --no-pin    leave thread placement to the scheduler
  --json      one {"name":..,"value":..,"unit":..} object per line
Exit: 0 ok; 1 a non-naive variant missed a stop (a bug; naive misses never fail
the run); 100 bad flags; 101 internal error; 111 set-up failure.
)";

struct Flags {
  std::uint64_t trials = 1'000'000, window = 1000, max_misses = 100;
  std::uint64_t floor_samples = 100'000, max_delay_us = 20, seed = 1;
  bool no_pin = false, json = false;
  int loop_cpu = -1;  // not a flag: the looping threads' CPU when pinned
};

[[noreturn]] void Die(int code, const std::string& what) {
  std::fprintf(stderr, "stop_race: %s\n", what.c_str());
  std::exit(code);
}

// One pause: the library's busy-wait is also the right way to spin here.
void CpuRelax() { stop::internal::RaceWindowSpin(1); }

void FutexWake(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Waits until `word` != `old` or `until` passes; false on timeout. EINTR (the
// naive variant's wake-up signal may land here) just loops.
bool WaitChange(const std::atomic<std::uint32_t>& word, std::uint32_t old,
                Clock::time_point until) {
  const auto spin_until = std::min(until, Clock::now() + kSpinBeforeSleep);
  while (word.load(std::memory_order_acquire) == old) {
    const auto now = Clock::now();
    if (now >= until) return false;
    if (now < spin_until) {
      CpuRelax();
      continue;
    }
    const std::int64_t left = std::chrono::nanoseconds(until - now).count();
    const timespec rel{.tv_sec = left / 1'000'000'000, .tv_nsec = left % 1'000'000'000};
    syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, old, &rel, nullptr, 0);
  }
  return true;
}

// Left to the scheduler, the looping thread was often woken onto the CPU where
// the main thread spins (75-90% of naive+window trials in three runs): it could not
// run until main gave up spinning, so stops never landed inside the window and
// latency measured main's spin. Pinning the two to two CPUs keeps them parallel.
bool PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// Pins the calling (main) thread to its first allowed CPU; returns the second,
// for the looping threads, or -1 (nothing pinned) when only one is allowed.
int PinMainThread() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) return -1;
  std::array<int, 2> cpus{};
  for (int cpu = 0, n = 0; n < 2; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
  }
  return PinTo(cpus[0]) ? cpus[1] : -1;
}

enum class Kind { kFloor, kNaive, kLibrary, kEventFd };

struct Variant {
  std::string name;
  Kind kind;
  std::uint64_t trials;
  std::uint32_t window;  // pause loops between the stop check and the blocking call
  std::optional<stop::Strategy> strategy = std::nullopt;  // kLibrary: the one to use
};

struct Result {
  std::string name;
  bool skipped = false, may_miss = false;
  std::uint64_t trials = 0, missed = 0, late = 0, aborts = 0, early = 0;
  std::vector<std::int64_t> latency_ns{};  // of the trials not missed
  double p50 = NAN, p99 = NAN, max = NAN;  // microseconds
};

// Shared by the main thread and one looping thread. `go` and `done` count
// trials: main publishes `token`, then bumps `go`; the thread writes `t1` and
// `early`, then bumps `done`. Each side touches the plain fields only in its turn.
struct Handshake {
  std::atomic<std::uint32_t> go{0}, done{0};
  std::atomic<pid_t> tid{0};  // the looping thread, for its scheduler state
  std::atomic<bool> quit{false};
  std::stop_token token;
  Clock::time_point t1;
  bool early = false;  // the stop came before the thread picked the trial up
};

// Held around a trial's loop: its destructor runs once the loop has exited and
// every destructor inside it has run, which is when a stopped thread is free.
struct DoneReporter {
  Handshake& hs;
  ~DoneReporter() {
    hs.t1 = Clock::now();
    hs.done.fetch_add(1, std::memory_order_release);
    FutexWake(hs.done);
  }
};

// The racy baseline: a stop that lands between the check and recv() sends its
// signal before the thread blocks, so recv() sleeps through it.
void NaiveLoop(const std::stop_token& token, int fd, std::uint32_t window) {
  const pthread_t self = pthread_self();
  std::stop_callback wake(token, [self] { pthread_kill(self, stop::WakeSignal()); });
  std::array<std::byte, 64> buf;
  while (!token.stop_requested()) {
    stop::internal::RaceWindowSpin(window);
    (void)::recv(fd, buf.data(), buf.size(), 0);  // EINTR or the unblock datagram: re-check
  }
}

void LibraryLoop(const std::stop_token& token, int fd) {
  std::array<std::byte, 64> buf;
  for (;;) {
    auto got = stop::Recv(token, fd, buf);
    if (!got && got.error().stopped()) return;
    if (!got) Die(kExitBug, "stop::Recv: " + got.error().ToString());
  }
}

void EventFdLoop(const std::stop_token& token, int fd, std::uint32_t window) {
  auto stop_fd = stop::StopEventFd::Create(token);
  if (!stop_fd) Die(kExitSetup, "StopEventFd: " + stop_fd.error().ToString());
  std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {(*stop_fd)->fd(), POLLIN, 0}}};
  std::array<std::byte, 64> buf;
  while (!token.stop_requested()) {
    stop::internal::RaceWindowSpin(window);
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) Die(kExitBug, "poll");
    if (fds[1].revents & POLLIN) return;
    if (fds[0].revents & POLLIN) (void)::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
  }
}

// The floor's "loop": one read of an eventfd; no stop_token, signal or poll.
void FloorRead(int fd) {
  std::uint64_t count = 0;
  while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

void RunBody(const Variant& v, const std::stop_token& token, int fd) {
  switch (v.kind) {
    case Kind::kFloor: return FloorRead(fd);
    case Kind::kNaive: return NaiveLoop(token, fd, v.window);
    case Kind::kLibrary: return LibraryLoop(token, fd);
    case Kind::kEventFd: return EventFdLoop(token, fd, v.window);
  }
}

// Per-thread set-up. The naive thread unblocks the wake-up signal itself: stop/
// manages the mask only in threads that make its calls.
void SetUpThread(const Variant& v) {
  if (v.kind == Kind::kLibrary) stop::internal::SetRaceWindowForTesting(v.window);
  if (v.kind != Kind::kNaive) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, stop::WakeSignal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

std::uint64_t AbortCount() {
  const stop::ThreadStats stats = stop::ThisThreadStats();
  return stats.rseq_restarts + stats.rseq_stops + stats.pc_redirects;
}

// The looping thread: one body run per trial until told to quit. Returns the
// aborts it took (stop/ counters of this thread).
std::uint64_t LoopThread(Handshake& hs, const Variant& v, int fd, int cpu) {
  if (cpu >= 0 && !PinTo(cpu)) Die(kExitSetup, "cannot pin the looping thread; try --no-pin");
  SetUpThread(v);
  hs.tid.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_release);
  const std::uint64_t aborts_before = AbortCount();
  for (std::uint32_t seen = 0;; ++seen) {
    while (!WaitChange(hs.go, seen, Clock::now() + 1s)) {
    }
    if (hs.quit.load(std::memory_order_acquire)) break;
    const std::stop_token token = hs.token;
    hs.early = token.stop_requested();
    DoneReporter reporter{hs};
    RunBody(v, token, fd);
  }
  return AbortCount() - aborts_before;
}

// The descriptor the thread blocks on: an eventfd for the floor, else a UDP
// socket bound to 127.0.0.1 to which nothing is sent but unblocking datagrams.
UniqueFd OpenFd(Kind kind) {
  if (kind == Kind::kFloor) return UniqueFd(::eventfd(0, EFD_CLOEXEC));
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd.Reset();
  return fd;
}

// Makes the thread's blocking call return: the floor's wake-up, or one
// datagram to the socket for a missed stop.
void Poke(Kind kind, int fd) {
  if (kind == Kind::kFloor) {
    const std::uint64_t one = 1;
    if (::write(fd, &one, sizeof one) == sizeof one) return;
  } else {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    if (::getsockname(fd, sa, &len) == 0 && ::sendto(fd, "x", 1, 0, sa, len) == 1) return;
  }
  Die(kExitBug, "poke: " + Error::FromErrno("write/sendto", errno).ToString());
}

// The thread's state letter from /proc (R running or runnable, S sleeping, ...).
char SchedulerState(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  char buf[512] = {};
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd || ::read(fd.get(), buf, sizeof buf - 1) <= 0) return '?';
  const char* paren = std::strrchr(buf, ')');  // the name may contain spaces
  return paren && paren[1] == ' ' ? paren[2] : '?';
}

void RunTrial(Handshake& hs, const Variant& v, int fd, Clock::duration delay, Result& r) {
  std::stop_source source;
  hs.token = source.get_token();
  const std::uint32_t before = hs.done.load(std::memory_order_relaxed);
  hs.go.fetch_add(1, std::memory_order_release);
  FutexWake(hs.go);
  for (const auto until = Clock::now() + delay; Clock::now() < until;) CpuRelax();
  const Clock::time_point t0 = Clock::now();
  if (v.kind == Kind::kFloor) {
    Poke(v.kind, fd);
  } else {
    source.request_stop();
  }
  ++r.trials;
  if (WaitChange(hs.done, before, t0 + kMissAfter)) {
    r.latency_ns.push_back(std::chrono::nanoseconds(hs.t1 - t0).count());
    r.early += hs.early ? 1 : 0;
    return;
  }
  // Still running after 50 ms: asleep means the wake-up did not wake it (a missed
  // stop); runnable means it was woken but the (shared, virtual) machine has not
  // run it yet: late, not missed, and it finishes by itself.
  if (SchedulerState(hs.tid.load(std::memory_order_acquire)) == 'R' &&
      WaitChange(hs.done, before, Clock::now() + kUnblockBound)) {
    ++r.late;
    r.latency_ns.push_back(std::chrono::nanoseconds(hs.t1 - t0).count());
    return;
  }
  ++r.missed;
  Poke(v.kind, fd);
  if (!WaitChange(hs.done, before, Clock::now() + kUnblockBound)) {
    Die(kExitBug, r.name + ": thread still blocked after unblocking a missed stop");
  }
  // If the thread left without taking the datagram, it must not end a later trial.
  std::array<std::byte, 64> leftover;
  if (v.kind != Kind::kFloor) {
    while (::recv(fd, leftover.data(), leftover.size(), MSG_DONTWAIT) > 0) {
    }
  }
}

void Summarize(Result& r) {
  auto& ns = r.latency_ns;
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  const auto at = [&ns](double q) { return ns[static_cast<std::size_t>(q * (ns.size() - 1))]; };
  std::tie(r.p50, r.p99, r.max) = std::tuple(at(0.5) / 1e3, at(0.99) / 1e3, at(1.0) / 1e3);
}

// One variant for the whole run: its descriptor, its looping thread (waiting
// between blocks) and its results. Variants take turns in blocks of trials, so
// drift in the machine's speed over the run (it is shared) hits all of them,
// and the floor, alike.
class Runner {
 public:
  Runner(Variant v, const Flags& flags) : v_(std::move(v)), max_misses_(flags.max_misses) {
    fd_ = OpenFd(v_.kind);
    if (!fd_) Die(kExitSetup, v_.name + ": " + Error::FromErrno("eventfd/socket", errno).ToString());
    r_.name = v_.name;
    r_.may_miss = v_.kind == Kind::kNaive;
    r_.latency_ns.reserve(v_.trials);
    thread_ = std::thread([this, cpu = flags.loop_cpu] { r_.aborts = LoopThread(hs_, v_, fd_.get(), cpu); });
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  ~Runner() { Quit(); }

  // Ends the looping thread (its abort count is final then) and summarises.
  Result Finish() {
    Quit();
    Summarize(r_);
    return std::move(r_);
  }

  void RunBlock(std::uint64_t n, std::uint64_t max_delay_us, std::mt19937_64& rng) {
    if (v_.strategy) {
      if (auto set = stop::SetStrategy(*v_.strategy); !set) Die(kExitSetup, set.error().ToString());
    }
    std::uniform_int_distribution<std::int64_t> delay_ns(0, max_delay_us * 1000);
    for (std::uint64_t i = 0; i < n && !Finished(); ++i) {
      RunTrial(hs_, v_, fd_.get(), std::chrono::nanoseconds(delay_ns(rng)), r_);
    }
  }
  bool Finished() const { return r_.trials >= v_.trials || r_.missed >= max_misses_; }
  std::uint64_t trials_wanted() const { return v_.trials; }

 private:
  void Quit() {
    if (!thread_.joinable()) return;
    hs_.quit.store(true, std::memory_order_relaxed);
    hs_.go.fetch_add(1, std::memory_order_release);  // publishes quit
    FutexWake(hs_.go);
    thread_.join();
  }

  Variant v_;
  std::uint64_t max_misses_;
  UniqueFd fd_;
  Result r_;
  Handshake hs_;
  std::thread thread_;
};

std::vector<Variant> Variants(std::uint32_t window, const Flags& flags) {
  std::vector<Variant> out{{"floor", Kind::kFloor, flags.floor_samples, 0}};
  for (std::uint32_t w : {0u, window}) {
    const std::string suffix = w ? "+window" : "";
    out.push_back({"naive" + suffix, Kind::kNaive, flags.trials, w});
    for (auto s : {stop::Strategy::kRseq, stop::Strategy::kSignalPc, stop::Strategy::kSigmask,
                   stop::Strategy::kEventFd}) {
      out.push_back({std::string(stop::StrategyName(s)) + suffix, Kind::kLibrary, flags.trials, w, s});
    }
    out.push_back({"StopEventFd" + suffix, Kind::kEventFd, flags.trials, w});
  }
  return out;
}

// Runs every available variant in kRounds interleaved blocks; results in the
// order of Variants(), the floor first.
std::vector<Result> RunInterleaved(std::uint32_t window, const Flags& flags, std::mt19937_64& rng) {
  constexpr std::uint64_t kRounds = 100;
  std::vector<std::unique_ptr<Runner>> runners;  // nullptr: skipped
  std::vector<std::string> names;
  for (Variant& v : Variants(window, flags)) {
    names.push_back(v.name);
    bool available = !v.strategy || stop::Available(*v.strategy);
    runners.push_back(available ? std::make_unique<Runner>(std::move(v), flags) : nullptr);
  }
  const auto start = Clock::now();
  for (std::uint64_t round = 1; round <= kRounds; ++round) {
    for (auto& runner : runners) {
      if (runner) runner->RunBlock((runner->trials_wanted() + kRounds - 1) / kRounds, flags.max_delay_us, rng);
    }
    if (round % 10 == 0) {
      std::fprintf(stderr, "stop_race: %" PRIu64 "%% done, %.0f s\n", round,
                   std::chrono::duration<double>(Clock::now() - start).count());
    }
  }
  std::vector<Result> results;
  for (std::size_t i = 0; i < runners.size(); ++i) {
    results.push_back(runners[i] ? runners[i]->Finish() : Result{.name = names[i], .skipped = true});
  }
  return results;
}

double MeasureWindowUs(std::uint32_t window) {
  constexpr int kRuns = 200;
  const auto start = Clock::now();
  for (int i = 0; i < kRuns; ++i) stop::internal::RaceWindowSpin(window);
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kRuns;
}

void PrintJsonLine(const std::string& name, double value, const char* unit) {
  if (std::isnan(value)) return;  // no latency sample: leave the metric out
  std::printf("{\"name\":\"stop_race.%s\",\"value\":%.6g,\"unit\":\"%s\"}\n", name.c_str(), value,
              unit);
}

void PrintJson(const Result& r, double floor_p50) {
  const std::string& n = r.name;
  if (r.skipped) return PrintJsonLine(n + ".skipped", 1, "bool");
  PrintJsonLine(n + ".trials", r.trials, "count");
  if (n != "floor") {
    PrintJsonLine(n + ".missed", r.missed, "count");
    PrintJsonLine(n + ".late", r.late, "count");
    PrintJsonLine(n + ".aborts", r.aborts, "count");
    PrintJsonLine(n + ".early", r.early, "count");
    PrintJsonLine(n + ".p50_over_floor", r.p50 / floor_p50, "ratio");
  }
  PrintJsonLine(n + ".p50", r.p50, "us");
  PrintJsonLine(n + ".p99", r.p99, "us");
  PrintJsonLine(n + ".max", r.max, "us");
}

void PrintTable(const std::vector<Result>& results, double floor_p50) {
  std::printf("%-18s %9s %7s %5s %7s %9s %9s %10s %9s %7s\n", "variant", "trials", "missed",
              "late", "aborts", "p50 us", "p99 us", "max us", "p50/floor", "early");
  for (const Result& r : results) {
    if (r.skipped) {
      std::printf("%-18s skipped: strategy not available here\n", r.name.c_str());
      continue;
    }
    std::printf("%-18s %9" PRIu64 " %7" PRIu64 " %5" PRIu64 " %7" PRIu64 " %9.2f %9.2f %10.2f %9.2f %7" PRIu64
                "\n", r.name.c_str(), r.trials, r.missed, r.late, r.aborts, r.p50, r.p99, r.max,
                r.p50 / floor_p50, r.early);
  }
  std::printf("missed: asleep in its blocking call 50 ms after the stop request (then unblocked)\n"
              "late: not done after 50 ms but runnable: woken, not yet run by the machine\n"
              "early: the stop came before the thread picked the trial up\n");
}

bool ParseNumber(std::string_view text, std::uint64_t& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  const std::pair<std::string_view, std::uint64_t*> numbers[] = {
      {"--trials", &f.trials}, {"--window", &f.window}, {"--max-misses", &f.max_misses},
      {"--floor-samples", &f.floor_samples}, {"--max-delay-us", &f.max_delay_us},
      {"--seed", &f.seed}};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") {
      std::fputs(kHelp.data(), stdout);
      std::exit(0);
    }
    if (arg == "--json" || arg == "--no-pin") {
      (arg == "--json" ? f.json : f.no_pin) = true;
      continue;
    }
    auto number = std::ranges::find(numbers, arg, [](const auto& entry) { return entry.first; });
    if (number == std::end(numbers) || ++i == argc || !ParseNumber(argv[i], *number->second)) {
      Die(kExitUsage, "bad flag or value: " + std::string(arg) + " (see --help)");
    }
  }
  if (f.window > UINT32_MAX || f.trials == 0) Die(kExitUsage, "bad --window or --trials");
  return f;
}

int Main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  if (auto init = stop::Init(); !init) Die(kExitSetup, "stop::Init: " + init.error().ToString());
  if (!flags.no_pin) flags.loop_cpu = PinMainThread();
  const auto window = static_cast<std::uint32_t>(flags.window);
  const double window_us = MeasureWindowUs(window);
  std::fprintf(stderr, "stop_race: window %u pause loops = %.2f us; %s\n", window, window_us,
               flags.loop_cpu >= 0 ? "main and looping threads pinned to two CPUs" : "unpinned");
  std::mt19937_64 rng(flags.seed);
  std::vector<Result> results = RunInterleaved(window, flags, rng);
  const double floor_p50 = results.front().p50;
  if (flags.json) {
    PrintJsonLine("window_pause_loops", window, "count");
    PrintJsonLine("window_us", window_us, "us");
    for (const Result& r : results) PrintJson(r, floor_p50);
  } else {
    PrintTable(results, floor_p50);
  }
  for (const Result& r : results) {
    if (!r.may_miss && r.late > 0) {
      std::fprintf(stderr, "stop_race: note: %s had %" PRIu64 " late trials (runnable but not run "
                   "for 50 ms: the machine stalled, or a livelock under 2 s)\n", r.name.c_str(), r.late);
    }
  }
  const auto bug = [](const Result& r) { return !r.may_miss && r.missed > 0; };
  return std::ranges::any_of(results, bug) ? kExitMissed : 0;
}

}  // namespace
}  // namespace sv::bench

int main(int argc, char** argv) { return sv::bench::Main(argc, argv); }
