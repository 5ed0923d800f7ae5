// stop_race: randomized trials that stop a thread looping on a blocking recv, to
// count missed stops and measure stop latency for a racy baseline, each stop/
// strategy and StopEventFd, against a raw eventfd wake-up floor. Benchmark process.

#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
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

constexpr auto kMissAfter = 50ms;       // still blocked this long after the request: missed
constexpr auto kUnblockBound = 2s;      // a missed thread must exit this soon after unblocking
constexpr auto kSpinBeforeSleep = 200us;  // trials are microseconds apart: spin, then futex
constexpr int kExitMissed = 1, kExitUsage = 100, kExitBug = 101, kExitSetup = 111;

constexpr std::string_view kHelp = R"(usage: stop_race [flags]
Stops a thread looping on a blocking recv() (UDP, 127.0.0.1, nothing arrives) at
a random moment, N times per variant: naive (check, then plain recv, woken by a
signal), rseq, signal-pc, sigmask (stop::Recv) and eventfd (StopEventFd + poll),
each without and with a widened check-to-syscall window ("+window"). A thread
still blocked 50 ms after the request is a missed stop. Also measures a raw
eventfd wake-up floor. Prints trials, missed, aborts, stop latency p50/p99/max.
  --trials N         trials per variant (default 1000000)
  --window N         pause loops between check and syscall in "+window" rows
                     (default 1000, about 5 us on the machine it was tuned on;
                     the run prints what it measures)
  --max-misses M     stop a variant early after M misses (default 100); each
                     miss costs 50 ms, so this bounds the naive baseline's run
                     time; the row shows the trials actually run
  --floor-samples N  eventfd wake-up floor samples (default 100000)
  --max-delay-us N   random delay before each stop, uniform in [0, N] (default 20)
  --seed N           seed of the delay generator (default 1)
  --json             one JSON object per line: {"name":..,"value":..,"unit":..}
Exit: 0 ok; 1 a non-naive variant missed a stop (a bug); 100 bad flags;
101 internal error; 111 set-up failure. Naive misses are expected, never a failure.
)";

struct Flags {
  std::uint64_t trials = 1'000'000;
  std::uint32_t window = 1000;
  std::uint64_t max_misses = 100;
  std::uint64_t floor_samples = 100'000;
  std::uint64_t max_delay_us = 20;
  std::uint64_t seed = 1;
  bool json = false;
};

[[noreturn]] void Die(int code, std::string_view what, const std::optional<Error>& error = {}) {
  std::fprintf(stderr, "stop_race: %.*s%s%s\n", static_cast<int>(what.size()), what.data(),
               error ? ": " : "", error ? error->ToString().c_str() : "");
  std::exit(code);
}

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void SpinFor(Clock::duration d) {
  for (const auto until = Clock::now() + d; Clock::now() < until;) CpuRelax();
}

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
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(until - now).count();
    const timespec rel{.tv_sec = left / 1'000'000'000, .tv_nsec = left % 1'000'000'000};
    syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, old, &rel, nullptr, 0);
  }
  return true;
}

// Shared by the main thread and one looping thread. `go` and `done` count
// trials: main publishes `token`, then bumps `go`; the thread writes `t1` and
// `early`, then bumps `done`. Each side touches the plain fields only in its turn.
struct Handshake {
  std::atomic<std::uint32_t> go{0};
  std::atomic<std::uint32_t> done{0};
  std::atomic<bool> quit{false};
  std::stop_token token;
  Clock::time_point t1;
  bool early = false;  // the stop was already requested when the thread picked the trial up
};

// Held around a trial's loop: its destructor runs once the loop has exited and
// every destructor inside it has run, which is when a stopped thread is free.
class DoneReporter {
 public:
  explicit DoneReporter(Handshake& hs) : hs_(hs) {}
  DoneReporter(const DoneReporter&) = delete;
  DoneReporter& operator=(const DoneReporter&) = delete;
  ~DoneReporter() {
    hs_.t1 = Clock::now();
    hs_.done.fetch_add(1, std::memory_order_release);
    FutexWake(hs_.done);
  }

 private:
  Handshake& hs_;
};

struct Variant {
  std::string name;
  std::uint64_t trials = 0;
  bool may_miss = false;                               // the naive baseline
  std::function<void()> setup;                         // first thing in the looping thread
  std::function<void(std::stop_token)> body;           // one trial's loop; returns once stopped
  std::function<void(std::stop_source&)> fire;         // request_stop(), or the floor's write
  std::function<void()> unblock;                       // makes a missed thread's call return
};

struct Result {
  std::string name;
  bool skipped = false;
  bool may_miss = false;
  std::uint64_t trials = 0, missed = 0, aborts = 0, early = 0;
  std::vector<std::int64_t> latency_ns;  // of trials not missed
  double p50 = NAN, p99 = NAN, max = NAN;  // microseconds
};

std::uint64_t AbortCount() {
  const stop::ThreadStats stats = stop::ThisThreadStats();
  return stats.rseq_aborts + stats.pc_redirects;
}

// The looping thread: one body run per trial until told to quit. Returns the
// aborts taken (stop/ counters of this thread).
std::uint64_t LoopThread(Handshake& hs, const Variant& v) {
  if (v.setup) v.setup();
  const std::uint64_t aborts_before = AbortCount();
  for (std::uint32_t seen = 0;; ++seen) {
    while (!WaitChange(hs.go, seen, Clock::now() + 1s)) {
    }
    if (hs.quit.load(std::memory_order_acquire)) break;
    const std::stop_token token = hs.token;
    hs.early = token.stop_requested();
    DoneReporter reporter(hs);
    v.body(token);
  }
  return AbortCount() - aborts_before;
}

void RunTrial(Handshake& hs, const Variant& v, Clock::duration delay, Result& r) {
  std::stop_source source;
  hs.token = source.get_token();
  const std::uint32_t before = hs.done.load(std::memory_order_relaxed);
  hs.go.fetch_add(1, std::memory_order_release);
  FutexWake(hs.go);
  SpinFor(delay);
  const Clock::time_point t0 = Clock::now();
  v.fire(source);
  ++r.trials;
  if (WaitChange(hs.done, before, t0 + kMissAfter)) {
    r.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(hs.t1 - t0).count());
    r.early += hs.early ? 1 : 0;
    return;
  }
  ++r.missed;
  v.unblock();
  if (!WaitChange(hs.done, before, Clock::now() + kUnblockBound)) {
    Die(kExitBug, r.name + ": thread still blocked after unblocking a missed stop");
  }
}

void Summarize(Result& r) {
  auto& ns = r.latency_ns;
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  const auto at = [&](double q) { return ns[std::min(ns.size() - 1, static_cast<std::size_t>(q * ns.size()))] / 1e3; };
  r.p50 = at(0.5);
  r.p99 = at(0.99);
  r.max = ns.back() / 1e3;
}

Result RunVariant(const Variant& v, const Flags& flags, std::mt19937_64& rng) {
  Result r{.name = v.name, .may_miss = v.may_miss};
  r.latency_ns.reserve(v.trials);
  Handshake hs;
  std::thread thread([&] { r.aborts = LoopThread(hs, v); });
  std::uniform_int_distribution<std::int64_t> delay_ns(0, flags.max_delay_us * 1000);
  const auto start = Clock::now();
  while (r.trials < v.trials && r.missed < flags.max_misses) {
    RunTrial(hs, v, std::chrono::nanoseconds(delay_ns(rng)), r);
  }
  hs.quit.store(true, std::memory_order_relaxed);
  hs.go.fetch_add(1, std::memory_order_release);
  FutexWake(hs.go);
  thread.join();
  Summarize(r);
  std::fprintf(stderr, "stop_race: %s: %lu trials, %lu missed, %.1f s\n", r.name.c_str(),
               r.trials, r.missed, std::chrono::duration<double>(Clock::now() - start).count());
  return r;
}

// The socket every recv variant blocks on: bound to 127.0.0.1, nothing is sent
// to it except the datagram that unblocks a missed trial.
class QuietSocket {
 public:
  QuietSocket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}, .sin_zero = {}};
    if (!fd_ || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Die(kExitSetup, "udp socket", Error::FromErrno("socket/bind 127.0.0.1", errno));
    }
  }
  int fd() const { return fd_.get(); }
  // Sends one datagram to itself so that a blocked recv returns.
  void Unblock() const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    if (::getsockname(fd(), sa, &len) != 0 || ::sendto(fd(), "x", 1, 0, sa, len) != 1) {
      Die(kExitBug, "unblock", Error::FromErrno("sendto self", errno));
    }
  }

 private:
  UniqueFd fd_;
};

void DrainSocket(int fd) {
  std::array<std::byte, 64> buf;
  while (::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
  }
}

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
    if (!got) Die(kExitBug, "stop::Recv", got.error());
  }
}

void EventFdLoop(const std::stop_token& token, int fd, std::uint32_t window) {
  auto stop_fd = stop::StopEventFd::Create(token);
  if (!stop_fd) Die(kExitSetup, "StopEventFd::Create", stop_fd.error());
  std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {(*stop_fd)->fd(), POLLIN, 0}}};
  while (!token.stop_requested()) {
    stop::internal::RaceWindowSpin(window);
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) {
      Die(kExitBug, "poll", Error::FromErrno("poll", errno));
    }
    if (fds[1].revents & POLLIN) return;
    if (fds[0].revents & POLLIN) DrainSocket(fd);
  }
}

void RequestStop(std::stop_source& source) { source.request_stop(); }

Variant SocketVariant(std::string name, const Flags& flags, const QuietSocket& socket) {
  return Variant{.name = std::move(name), .trials = flags.trials, .fire = RequestStop,
                 .unblock = [&socket] { socket.Unblock(); }};
}

void RunStrategy(stop::Strategy s, std::uint32_t window, const Flags& flags,
                 std::mt19937_64& rng, std::vector<Result>& out) {
  const std::string name(stop::StrategyName(s));
  const std::string row = window ? name + "+window" : name;
  if (!stop::Available(s)) {
    out.push_back(Result{.name = row, .skipped = true});
    return;
  }
  if (auto set = stop::SetStrategy(s); !set) Die(kExitSetup, "SetStrategy " + name, set.error());
  QuietSocket socket;
  Variant v = SocketVariant(row, flags, socket);
  v.setup = [window] { stop::internal::SetRaceWindowForTesting(window); };
  v.body = [fd = socket.fd()](std::stop_token t) { LibraryLoop(t, fd); };
  out.push_back(RunVariant(v, flags, rng));
  DrainSocket(socket.fd());
}

void RunWithWindow(std::uint32_t window, const Flags& flags, std::mt19937_64& rng,
                   std::vector<Result>& out) {
  const std::string suffix = window ? "+window" : "";
  QuietSocket socket;
  Variant naive = SocketVariant("naive" + suffix, flags, socket);
  naive.may_miss = true;
  naive.body = [fd = socket.fd(), window](std::stop_token t) { NaiveLoop(t, fd, window); };
  out.push_back(RunVariant(naive, flags, rng));
  DrainSocket(socket.fd());
  for (auto s : {stop::Strategy::kRseq, stop::Strategy::kSignalPc, stop::Strategy::kSigmask}) {
    RunStrategy(s, window, flags, rng, out);
  }
  Variant eventfd = SocketVariant("eventfd" + suffix, flags, socket);
  eventfd.body = [fd = socket.fd(), window](std::stop_token t) { EventFdLoop(t, fd, window); };
  out.push_back(RunVariant(eventfd, flags, rng));
}

// The floor: the same trial, but the "stop" is one eventfd write to a thread
// blocked in read(); no stop_token, signal or poll involved.
Result RunFloor(const Flags& flags, std::mt19937_64& rng) {
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
  if (!efd) Die(kExitSetup, "floor", Error::FromErrno("eventfd", errno));
  const auto post = [fd = efd.get()] {
    const std::uint64_t one = 1;
    if (::write(fd, &one, sizeof one) != sizeof one) Die(kExitBug, "floor eventfd write");
  };
  Variant v{.name = "floor", .trials = flags.floor_samples};
  v.body = [fd = efd.get()](std::stop_token) {
    std::uint64_t count = 0;
    while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
  };
  v.fire = [post](std::stop_source&) { post(); };
  v.unblock = post;
  return RunVariant(v, flags, rng);
}

double MeasureWindowUs(std::uint32_t window) {
  constexpr int kRuns = 200;
  const auto start = Clock::now();
  for (int i = 0; i < kRuns; ++i) stop::internal::RaceWindowSpin(window);
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kRuns;
}

void PrintJsonLine(const std::string& name, double value, std::string_view unit) {
  if (std::isnan(value)) return;  // no latency sample: leave the metric out
  std::printf("{\"name\":\"stop_race.%s\",\"value\":%.6g,\"unit\":\"%.*s\"}\n", name.c_str(),
              value, static_cast<int>(unit.size()), unit.data());
}

void PrintJson(const Result& r, double floor_p50) {
  const std::string& n = r.name;
  if (r.skipped) return PrintJsonLine(n + ".skipped", 1, "bool");
  PrintJsonLine(n + ".trials", r.trials, "count");
  if (n != "floor") {
    PrintJsonLine(n + ".missed", r.missed, "count");
    PrintJsonLine(n + ".aborts", r.aborts, "count");
    PrintJsonLine(n + ".early", r.early, "count");
  }
  PrintJsonLine(n + ".p50", r.p50, "us");
  PrintJsonLine(n + ".p99", r.p99, "us");
  PrintJsonLine(n + ".max", r.max, "us");
  if (n != "floor") PrintJsonLine(n + ".p50_over_floor", r.p50 / floor_p50, "ratio");
}

void PrintRow(const Result& r, double floor_p50) {
  if (r.skipped) return (void)std::printf("%-16s  skipped: strategy not available here\n", r.name.c_str());
  std::printf("%-16s %9lu %7lu %7lu %9.2f %9.2f %10.2f %9.2f %9lu\n", r.name.c_str(), r.trials,
              r.missed, r.aborts, r.p50, r.p99, r.max, r.p50 / floor_p50, r.early);
}

void PrintTable(const std::vector<Result>& results, double floor_p50) {
  std::printf("%-16s %9s %7s %7s %9s %9s %10s %9s %9s\n", "variant", "trials", "missed", "aborts",
              "p50 us", "p99 us", "max us", "p50/floor", "early");
  for (const Result& r : results) PrintRow(r, floor_p50);
  std::printf("early = stop already requested when the thread picked the trial up\n");
}

std::optional<std::uint64_t> ParseNumber(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  const std::array<std::pair<std::string_view, std::uint64_t*>, 5> numeric{{
      {"--trials", &flags.trials}, {"--max-misses", &flags.max_misses},
      {"--floor-samples", &flags.floor_samples}, {"--max-delay-us", &flags.max_delay_us},
      {"--seed", &flags.seed}}};
  std::uint64_t window = flags.window;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") std::fputs(kHelp.data(), stdout), std::exit(0);
    if (arg == "--json") { flags.json = true; continue; }
    std::uint64_t* target = arg == "--window" ? &window : nullptr;
    for (const auto& [flag, field] : numeric) target = arg == flag ? field : target;
    const auto value = (target && i + 1 < argc) ? ParseNumber(argv[++i]) : std::nullopt;
    if (!value) Die(kExitUsage, "bad flag or value: " + std::string(arg) + " (see --help)");
    *target = *value;
  }
  if (window > UINT32_MAX || flags.trials == 0) Die(kExitUsage, "--window or --trials out of range");
  flags.window = static_cast<std::uint32_t>(window);
  return flags;
}

int Main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  if (auto init = stop::Init(); !init) Die(kExitSetup, "stop::Init", init.error());
  const double window_us = MeasureWindowUs(flags.window);
  std::fprintf(stderr, "stop_race: window %u pause loops = %.2f us; wake signal %d\n",
               flags.window, window_us, stop::WakeSignal());
  std::mt19937_64 rng(flags.seed);
  std::vector<Result> results{RunFloor(flags, rng)};
  for (std::uint32_t window : {0u, flags.window}) RunWithWindow(window, flags, rng, results);
  const double floor_p50 = results.front().p50;
  if (flags.json) {
    PrintJsonLine("window_pause_loops", flags.window, "count");
    PrintJsonLine("window_us", window_us, "us");
    for (const Result& r : results) PrintJson(r, floor_p50);
  } else {
    PrintTable(results, floor_p50);
  }
  const bool bug = std::any_of(results.begin(), results.end(),
                               [](const Result& r) { return !r.may_miss && r.missed > 0; });
  return bug ? kExitMissed : 0;
}

}  // namespace
}  // namespace sv::bench

int main(int argc, char** argv) { return sv::bench::Main(argc, argv); }
