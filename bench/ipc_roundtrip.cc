// ipc_roundtrip: round-trip latency (p50/p99) and calls/s of the shared-memory
// call channel, with the echo plugin in a real sv-worker, against floors
// measured in the same run: raw futex ping-pong with and without spin, a pipe
// pair and a Unix socketpair between two processes, and an in-process call.
// Benchmark process; its peers are sv-workers (spawned) and children (forked).
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/deadline.h"
#include "base/error.h"
#include "base/io.h"
#include "base/unique_fd.h"
#include "ipc/channel.h"
#include "ipc/spin.h"
#include "tests/helpers/worker_process.h"

namespace sv::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kExitTargetMissed = 1, kExitUsage = 100, kExitBug = 101, kExitSetup = 111;
constexpr std::array<std::size_t, 4> kPayloads = {0, 1 << 10, 64 << 10, 1 << 20};
constexpr Clock::duration kFloorSpin = 20us;  // the raw futex floor's spin: SpinOptions' default budget
constexpr auto kChildSlice = 100ms;           // a waiting child checks on its parent this often
constexpr auto kBlockDeadline = 30s;          // every wait of one block of one row ends by then
constexpr unsigned kWatchdogSeconds = 60;     // one block still running then: a peer hung
constexpr std::uint64_t kColdCalls = 32;      // sampled apart at each block's start (SpinPolicy probes every 32nd wait)

constexpr std::string_view kHelp = R"(usage: ipc_roundtrip [flags]
Round trips of the echo plugin in a real sv-worker through ipc::Channel, for
payloads of 0 B, 1 KiB, 64 KiB and 1 MiB: Call with spinning on (the default
adaptive SpinOptions on both sides) and off (budget 0 on both sides), and
CallInPlace with spin on (input written into InputArea() once, output left in
place: the transport without the caller's two copies). Floors, same run: an
in-process echo into a buffer; raw futex ping-pong between two processes over a
shared memfd, with a 20 us spin before FUTEX_WAIT (waking only a peer that
announced its sleep, as ipc/channel.cc does) and without (always
FUTEX_WAIT/FUTEX_WAKE); the spinning one also with each payload, copied into a
shared buffer, echoed by the child into another and copied out, one copy
after the other (the floor of a channel that copies whole payloads; Call
overlaps its copies past 32 KiB); a pipe pair and a SOCK_STREAM socketpair whose child
reads the whole payload, then writes it back (0 B rows carry 1 byte: a 0-byte
write wakes nobody). Every row has a peer process of its own. Rows take turns
in interleaved blocks, each block warmed up first, so drift in the machine's
speed hits them alike; p50/p99 come from per-call steady_clock samples,
calls/s from their mean. "cold p50" is the median of the first 32 calls of
each block, after the row's peer sat idle while the other rows ran; the
warm-up and the timed calls follow them. "stacked" counts the blocks at whose
end the peer had last run on this process's CPU: spinning only pays while the
two run on different CPUs, and where the scheduler puts them varies by block.
  --iterations N  (60000) timed calls of a 0 B or 1 KiB row; 64 KiB rows run
                  N/4, 1 MiB rows N/40
  --blocks N      (30)
  --quick         as --iterations 2000 --blocks 10: a few seconds, for CI
  --pin           pin this process to one CPU and every peer to another
  --check         exit 1 when a target ratio is missed
  --json          one {"name":..,"value":..,"unit":..} object per line
Exit: 0 ok (targets are reported, not enforced, without --check); 1 a target
missed under --check; 100 bad flags; 101 a peer failed or hung (one block of
one row over 60 s); 111 set-up failure.
)";

struct Flags {
  std::uint64_t iterations = 60'000, blocks = 30;
  bool json = false, check = false, pin = false;
};

[[noreturn]] void Die(int code, const std::string& what) {
  std::fprintf(stderr, "ipc_roundtrip: %s\n", what.c_str());
  std::exit(code);
}

// Every peer has PR_SET_PDEATHSIG (sv-worker sets it itself), so exiting here
// also ends them. Async-signal-safe.
void OnWatchdog(int) {
  constexpr char kMessage[] = "ipc_roundtrip: a block ran over the watchdog's limit: a peer hung\n";
  (void)!::write(2, kMessage, sizeof kMessage - 1);
  _exit(kExitBug);
}

void InstallWatchdog() {
  struct sigaction sa {};
  sa.sa_handler = OnWatchdog;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGALRM, &sa, nullptr) != 0) Die(kExitSetup, Error::FromErrno("sigaction", errno).ToString());
}

std::string Pattern(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  return bytes;
}

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// One round trip's other end. RoundTrip() dies (kExitBug) on any failure,
// `deadline` passing included.
class Peer {
 public:
  virtual ~Peer() = default;
  virtual void RoundTrip(Deadline deadline) = 0;
  // A round trip that also compares the echoed bytes with the input.
  virtual void Verify(Deadline deadline) { RoundTrip(deadline); }
  // The peer process (for --pin and the stacked count); -1 for none.
  virtual pid_t pid() const { return -1; }
};

// The floor under everything: the echo as a plain function call.
[[gnu::noinline]] void EchoInto(std::string_view in, std::span<char> out) {
  if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
  asm volatile("" ::: "memory");  // the copy is the point: keep it
}

class InProcPeer final : public Peer {
 public:
  explicit InProcPeer(std::size_t payload) : input_(Pattern(payload)), output_(payload, '\0') {}
  void RoundTrip(Deadline) override { EchoInto(input_, output_); }

 private:
  std::string input_, output_;
};

// A forked peer process, killed (SIGKILL) and reaped on destruction. Children
// are forked before this process starts any thread, so they may allocate; each
// dies with this process (PR_SET_PDEATHSIG) and never returns into its caller.
class Child {
 public:
  template <class Body>
  static Child Fork(Body body) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) Die(kExitSetup, Error::FromErrno("fork", errno).ToString());
    if (pid == 0) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid() == parent) body();
      _exit(0);
    }
    return Child(pid);
  }
  Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  Child& operator=(Child&&) = delete;
  ~Child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid_t pid() const { return pid_; }

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

// The raw futex floor's shared memory, laid out like the channel's two slots:
// each line is written by one process only (`ping` by the caller, `pong` by
// the child), all seq_cst.
struct alignas(64) Bell {
  std::atomic<std::uint32_t> value{0};     // futex word: the last round trip rung
  std::atomic<std::uint32_t> sleeping{0};  // 1 while this line's writer may sleep on the other bell
};
struct PingPong {
  Bell ping;
  Bell pong;
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free && sizeof(PingPong) == 128);

timespec Timespec(Clock::time_point t) {  // steady_clock is CLOCK_MONOTONIC
  const std::int64_t ns = std::chrono::nanoseconds(t.time_since_epoch()).count();
  return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// Spins until `bell` no longer holds `old` or `spin` passed (the clock is read
// every 8 rounds, as in ipc/channel.cc). True when the change came.
bool SpinFor(const std::atomic<std::uint32_t>& bell, std::uint32_t old, Clock::duration spin) {
  const Clock::time_point end = Clock::now() + spin;
  for (unsigned round = 0; bell.load(std::memory_order_acquire) == old; ++round) {
    if ((round & 7) == 7 && Clock::now() >= end) return false;
    ipc::CpuRelax();
  }
  return true;
}

// Waits until `bell` no longer holds `old`: spins for `spin`, then sleeps in
// FUTEX_WAIT. With `announce`, a sleep is announced there first (seq_cst,
// paired with Ring()'s store and load). False when `until` passed first.
bool WaitForBell(const std::atomic<std::uint32_t>& bell, std::uint32_t old, std::atomic<std::uint32_t>* announce,
                 Clock::duration spin, Clock::time_point until) {
  if (spin > Clock::duration::zero() && SpinFor(bell, old, spin)) return true;
  const timespec abs = Timespec(until);
  bool changed = true;
  for (;;) {
    if (announce != nullptr) announce->store(1, std::memory_order_seq_cst);
    if (bell.load(std::memory_order_seq_cst) != old) break;
    const long rc = syscall(SYS_futex, &bell, FUTEX_WAIT_BITSET, old, &abs, nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc != 0 && errno == ETIMEDOUT) {
      changed = bell.load(std::memory_order_acquire) != old;
      break;
    }
  }
  if (announce != nullptr) announce->store(0, std::memory_order_relaxed);
  return changed;
}

// Publishes `value` and wakes the waiter: always when `sleeping` is null, else
// only when the waiter announced its sleep.
void Ring(std::atomic<std::uint32_t>& bell, std::uint32_t value, const std::atomic<std::uint32_t>* sleeping) {
  bell.store(value, std::memory_order_seq_cst);
  if (sleeping == nullptr || sleeping->load(std::memory_order_seq_cst) != 0) {
    syscall(SYS_futex, &bell, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  }
}

// The ping-pong page, then (with a payload) a request and a response buffer.
PingPong* MapPingPong(std::size_t payload) {
  const std::size_t size = 4096 + 2 * payload;
  UniqueFd fd(memfd_create("ipc_roundtrip-futex", MFD_CLOEXEC));
  if (!fd || ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    Die(kExitSetup, Error::FromErrno("memfd_create/ftruncate", errno).ToString());
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) Die(kExitSetup, Error::FromErrno("mmap", errno).ToString());
  return new (p) PingPong();
}

// Raw futex ping-pong with a forked child. With `spin`, both sides spin
// kFloorSpin before sleeping and wake only an announced sleeper; without, they
// always FUTEX_WAIT and always FUTEX_WAKE. With a payload, each round trip
// also does the three copies a copying channel must: the input into a shared
// request buffer, the child's echo into a shared response buffer, and the
// response out into a fresh string (memcpy only, no checks), one after the
// other: the floor of a channel that copies whole payloads on this machine
// (Channel::Call() overlaps its copies of payloads past ipc::kStreamStep).
class FutexPeer final : public Peer {
 public:
  FutexPeer(bool spin, std::size_t payload)
      : spin_(spin), payload_(payload), input_(Pattern(payload)), page_(MapPingPong(payload)) {
    child_.emplace(Child::Fork([this] { Serve(); }));
  }
  ~FutexPeer() override {
    child_.reset();
    munmap(page_, 4096 + 2 * payload_);
  }
  void RoundTrip(Deadline deadline) override {
    ++seq_;
    if (payload_ != 0) std::memcpy(Request(), input_.data(), payload_);
    Ring(page_->ping.value, seq_, spin_ ? &page_->pong.sleeping : nullptr);
    if (!WaitForBell(page_->pong.value, seq_ - 1, spin_ ? &page_->ping.sleeping : nullptr, Spin(), deadline.when())) {
      Die(kExitBug, "futex peer: no answer before the deadline");
    }
    if (payload_ != 0) output_ = std::string(Response(), payload_);
  }
  void Verify(Deadline deadline) override {
    RoundTrip(deadline);
    if (payload_ != 0 && output_ != input_) Die(kExitBug, "futex peer echoed other bytes");
  }
  pid_t pid() const override { return child_->pid(); }

 private:
  Clock::duration Spin() const { return spin_ ? kFloorSpin : Clock::duration::zero(); }
  char* Request() const { return reinterpret_cast<char*>(page_) + 4096; }
  char* Response() const { return Request() + payload_; }

  // The child: answers every ring; returns once its parent is gone.
  void Serve() {
    const pid_t parent = getppid();
    for (std::uint32_t seen = 0;;) {
      if (!WaitForBell(page_->ping.value, seen, spin_ ? &page_->pong.sleeping : nullptr, Spin(),
                       Clock::now() + kChildSlice)) {
        if (getppid() != parent) return;
        continue;
      }
      seen = page_->ping.value.load(std::memory_order_acquire);
      if (payload_ != 0) std::memcpy(Response(), Request(), payload_);
      Ring(page_->pong.value, seen, spin_ ? &page_->ping.sleeping : nullptr);
    }
  }

  bool spin_;
  std::size_t payload_;
  std::string input_, output_;
  PingPong* page_;
  std::uint32_t seq_ = 0;
  std::optional<Child> child_;
};

enum class StreamKind { kPipe, kSocketPair };

// Read and write ends, this process's and the child's, as {read, write}.
struct StreamEnds {
  std::array<UniqueFd, 2> parent, child;
};

UniqueFd DupCloexec(int fd) {
  UniqueFd dup(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup) Die(kExitSetup, Error::FromErrno("fcntl F_DUPFD_CLOEXEC", errno).ToString());
  return dup;
}

StreamEnds OpenStreams(StreamKind kind) {
  std::array<int, 2> a{-1, -1}, b{-1, -1};
  if (kind == StreamKind::kPipe) {
    if (pipe2(a.data(), O_CLOEXEC) != 0 || pipe2(b.data(), O_CLOEXEC) != 0) {
      Die(kExitSetup, Error::FromErrno("pipe2", errno).ToString());
    }
    // a: parent -> child, b: child -> parent.
    return {{UniqueFd(b[0]), UniqueFd(a[1])}, {UniqueFd(a[0]), UniqueFd(b[1])}};
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a.data()) != 0) {
    Die(kExitSetup, Error::FromErrno("socketpair", errno).ToString());
  }
  UniqueFd parent(a[0]), child(a[1]);
  UniqueFd parent_dup = DupCloexec(parent.get()), child_dup = DupCloexec(child.get());
  return {{std::move(parent), std::move(parent_dup)}, {std::move(child), std::move(child_dup)}};
}

// A pipe pair or a socketpair to a child that reads a whole payload, then
// writes it back. The payload carries at least one byte.
class StreamPeer final : public Peer {
 public:
  StreamPeer(StreamKind kind, std::size_t payload)
      : input_(Pattern(std::max<std::size_t>(payload, 1))), output_(input_.size(), '\0') {
    StreamEnds ends = OpenStreams(kind);
    std::string buffer(input_.size(), '\0');
    child_.emplace(Child::Fork([&] {
      for (UniqueFd& fd : ends.parent) fd.Reset();
      auto bytes = std::as_writable_bytes(std::span(buffer));
      while (ReadFull(ends.child[0].get(), bytes) && WriteAll(ends.child[1].get(), bytes)) {
      }
    }));
    read_end_ = std::move(ends.parent[0]);
    write_end_ = std::move(ends.parent[1]);
  }
  void RoundTrip(Deadline) override {
    if (Status s = WriteAll(write_end_.get(), Bytes(input_)); !s) Die(kExitBug, "stream peer: " + s.error().ToString());
    if (Status s = ReadFull(read_end_.get(), std::as_writable_bytes(std::span(output_))); !s) {
      Die(kExitBug, "stream peer: " + s.error().ToString());
    }
  }
  void Verify(Deadline deadline) override {
    RoundTrip(deadline);
    if (output_ != input_) Die(kExitBug, "stream peer echoed other bytes");
  }
  pid_t pid() const override { return child_->pid(); }

 private:
  std::string input_, output_;
  UniqueFd read_end_, write_end_;
  std::optional<Child> child_;
};

// The echo plugin in a real sv-worker, called through Call() or CallInPlace().
class ChannelPeer final : public Peer {
 public:
  enum class Path { kCall, kInPlace };

  ChannelPeer(Path path, bool spin, std::size_t payload) : path_(path), input_(Pattern(payload)) {
    testing::SpawnOptions options = testing::DefaultSpawnOptions("echo");
    if (!spin) {
      options.channel.spin.budget = 0ns;
      options.worker.spin.budget = 0ns;
    }
    auto worker = testing::WorkerProcess::Start(std::move(options), Deadline::After(10s));
    if (!worker) Die(kExitSetup, "sv-worker with the echo plugin: " + worker.error().ToString());
    worker_ = std::move(*worker);
    // The request region is written by this process only: the input stays put.
    if (path_ == Path::kInPlace && !input_.empty()) {
      std::memcpy(worker_->channel().InputArea().data(), input_.data(), input_.size());
    }
  }
  void RoundTrip(Deadline deadline) override { Run(deadline, false); }
  void Verify(Deadline deadline) override { Run(deadline, true); }
  pid_t pid() const override { return worker_->pid(); }

 private:
  void Run(Deadline deadline, bool compare) {
    if (path_ == Path::kCall) {
      auto output = worker_->channel().Call("echo", input_, deadline);
      if (!output) Die(kExitBug, "Call: " + output.error().ToString());
      return Expect(*output, compare);
    }
    auto lease = worker_->channel().CallInPlace("echo", input_.size(), deadline);
    if (!lease) Die(kExitBug, "CallInPlace: " + lease.error().ToString());
    Expect(lease->view(), compare);
  }
  void Expect(std::string_view output, bool compare) const {
    if (output.size() != input_.size() || (compare && output != input_)) Die(kExitBug, "echo returned other bytes");
  }

  Path path_;
  std::string input_;
  std::unique_ptr<testing::WorkerProcess> worker_;
};

enum class Kind { kCallSpin, kCallNoSpin, kInPlaceSpin, kInProc, kFutexSpin, kFutexNoSpin, kPipe, kSocketPair };
constexpr std::array kKinds = {Kind::kCallSpin,  Kind::kCallNoSpin,   Kind::kInPlaceSpin, Kind::kInProc,
                               Kind::kFutexSpin, Kind::kFutexNoSpin, Kind::kPipe,        Kind::kSocketPair};

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kCallSpin: return "channel_call_spin";
    case Kind::kCallNoSpin: return "channel_call_nospin";
    case Kind::kInPlaceSpin: return "channel_inplace_spin";
    case Kind::kInProc: return "inproc_call";
    case Kind::kFutexSpin: return "futex_spin";
    case Kind::kFutexNoSpin: return "futex_nospin";
    case Kind::kPipe: return "pipe";
    case Kind::kSocketPair: return "socketpair";
  }
  return "?";
}

bool Forks(Kind kind) {
  return kind == Kind::kFutexSpin || kind == Kind::kFutexNoSpin || kind == Kind::kPipe || kind == Kind::kSocketPair;
}

std::unique_ptr<Peer> MakePeer(Kind kind, std::size_t payload) {
  using Path = ChannelPeer::Path;
  switch (kind) {
    case Kind::kCallSpin: return std::make_unique<ChannelPeer>(Path::kCall, true, payload);
    case Kind::kCallNoSpin: return std::make_unique<ChannelPeer>(Path::kCall, false, payload);
    case Kind::kInPlaceSpin: return std::make_unique<ChannelPeer>(Path::kInPlace, true, payload);
    case Kind::kInProc: return std::make_unique<InProcPeer>(payload);
    case Kind::kFutexSpin: return std::make_unique<FutexPeer>(true, payload);
    case Kind::kFutexNoSpin: return std::make_unique<FutexPeer>(false, payload);
    case Kind::kPipe: return std::make_unique<StreamPeer>(StreamKind::kPipe, payload);
    case Kind::kSocketPair: return std::make_unique<StreamPeer>(StreamKind::kSocketPair, payload);
  }
  return nullptr;
}

std::string PayloadLabel(std::size_t payload) {
  if (payload >= (1 << 20)) return std::to_string(payload >> 20) + "MiB";
  if (payload >= (1 << 10)) return std::to_string(payload >> 10) + "KiB";
  return std::to_string(payload) + "B";
}

struct Stats {
  double p50_ns = NAN, p99_ns = NAN, calls_per_s = NAN;
};

struct Row {
  Kind kind;
  std::size_t payload;
  std::uint64_t iterations;  // timed calls wanted
  std::unique_ptr<Peer> peer = nullptr;
  std::vector<std::int64_t> ns = {};
  std::vector<std::int64_t> cold_ns = {};  // the first kColdCalls of each block
  std::uint64_t blocks = 0, stacked = 0;   // timed blocks; those that ended with both on one CPU
  Stats stats = {}, cold = {};

  std::string Name() const { return std::string(KindName(kind)) + "." + PayloadLabel(payload); }
};

// Large payloads take longer per call; fewer calls keep their rows' share of the run.
std::uint64_t IterationsFor(std::size_t payload, std::uint64_t n) {
  if (payload >= (1 << 20)) return std::max<std::uint64_t>(n / 40, 1);
  if (payload >= (64 << 10)) return std::max<std::uint64_t>(n / 4, 1);
  return n;
}

// Rows in display order: by payload, the channel first. The spinning futex
// ping-pong carries every payload (its copies are the floor of whole-payload
// copying); the other one only 0 B.
std::vector<Row> MakeRows(const Flags& flags) {
  std::vector<Row> rows;
  for (std::size_t payload : kPayloads) {
    for (Kind kind : kKinds) {
      if (kind == Kind::kFutexNoSpin && payload != 0) continue;
      rows.push_back({kind, payload, IterationsFor(payload, flags.iterations)});
      rows.back().ns.reserve(rows.back().iterations);
    }
  }
  return rows;
}

// Forks the children first, while this process has one thread (WorkerProcess
// starts a watcher thread per worker), then spawns the workers.
void StartPeers(std::vector<Row>& rows) {
  for (bool forked : {true, false}) {
    for (Row& row : rows) {
      if (Forks(row.kind) == forked) row.peer = MakePeer(row.kind, row.payload);
    }
  }
}

bool PinTo(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(pid, sizeof set, &set) == 0;
}

// Pins this thread to the first allowed CPU and each peer's main thread (the
// one that serves calls) to the second. Runs after the channels exist: a
// SpinPolicy made on one usable CPU never spins.
void Pin(const std::vector<Row>& rows) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) Die(kExitSetup, "--pin needs 2 CPUs");
  std::array<int, 2> cpus{};
  for (int cpu = 0, n = 0; n < 2; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
  }
  bool ok = PinTo(0, cpus[0]);
  for (const Row& row : rows) {
    if (row.peer->pid() > 0) ok = PinTo(row.peer->pid(), cpus[1]) && ok;
  }
  if (!ok) Die(kExitSetup, Error::FromErrno("sched_setaffinity", errno).ToString());
}

// The CPU `pid` last ran on (field 39 of /proc/PID/stat), or -1.
int LastCpu(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  char buf[1024] = {};
  if (!fd || read(fd.get(), buf, sizeof buf - 1) <= 0) return -1;
  const char* p = std::strrchr(buf, ')');  // the command name may contain spaces
  for (int field = 2; p != nullptr && *p != '\0'; ++p) {
    if (*p == ' ' && ++field == 39) return std::atoi(p + 1);
  }
  return -1;
}

void TimeCalls(Peer& peer, std::uint64_t n, Deadline deadline, std::vector<std::int64_t>& ns) {
  for (std::uint64_t i = 0; i < n; ++i) {
    const Clock::time_point start = Clock::now();
    peer.RoundTrip(deadline);
    ns.push_back(std::chrono::nanoseconds(Clock::now() - start).count());
  }
}

// `cold` calls sampled into cold_ns, `untimed` warm-up calls, then `timed`
// calls sampled into ns, each call on its own.
void RunBlock(Row& row, std::uint64_t cold, std::uint64_t untimed, std::uint64_t timed) {
  alarm(kWatchdogSeconds);
  const Deadline deadline = Deadline::After(kBlockDeadline);
  TimeCalls(*row.peer, cold, deadline, row.cold_ns);
  for (std::uint64_t i = 0; i < untimed; ++i) row.peer->RoundTrip(deadline);
  TimeCalls(*row.peer, std::min(timed, row.iterations - row.ns.size()), deadline, row.ns);
  alarm(0);
  if (timed == 0 || row.peer->pid() <= 0) return;
  ++row.blocks;
  if (LastCpu(row.peer->pid()) == sched_getcpu()) ++row.stacked;
}

// Every row checks its echo once and warms up for a block; then the rows take
// turns for `blocks` blocks, each block after its own warm-up (a peer has
// slept while the others ran; the adaptive spin takes calls to adapt back).
void RunInterleaved(std::vector<Row>& rows, std::uint64_t blocks) {
  const auto per_block = [blocks](const Row& row) { return (row.iterations + blocks - 1) / blocks; };
  for (Row& row : rows) {
    alarm(kWatchdogSeconds);  // RunBlock() arms it again, then clears it
    row.peer->Verify(Deadline::After(kBlockDeadline));
    RunBlock(row, 0, per_block(row), 0);
  }
  const Clock::time_point start = Clock::now();
  for (std::uint64_t block = 1; block <= blocks; ++block) {
    for (Row& row : rows) {
      const std::uint64_t n = per_block(row);
      RunBlock(row, kColdCalls, std::clamp<std::uint64_t>(n / 4, 4, 256), n);
    }
    if (block * 4 / blocks != (block - 1) * 4 / blocks) {  // at each quarter
      std::fprintf(stderr, "ipc_roundtrip: %" PRIu64 "%% done, %.0f s\n", block * 100 / blocks,
                   std::chrono::duration<double>(Clock::now() - start).count());
    }
  }
}

Stats Summarize(std::vector<std::int64_t> ns) {
  if (ns.empty()) return {};
  std::sort(ns.begin(), ns.end());
  const auto at = [&ns](double q) { return static_cast<double>(ns[static_cast<std::size_t>(q * (ns.size() - 1))]); };
  double sum = 0;
  for (std::int64_t x : ns) sum += static_cast<double>(x);
  return {at(0.5), at(0.99), sum > 0 ? 1e9 * static_cast<double>(ns.size()) / sum : NAN};
}

const Row& Find(const std::vector<Row>& rows, Kind kind, std::size_t payload) {
  auto it = std::ranges::find_if(rows, [&](const Row& r) { return r.kind == kind && r.payload == payload; });
  if (it == rows.end()) Die(kExitBug, "no row " + std::string(KindName(kind)) + "." + PayloadLabel(payload));
  return *it;
}

// A target of the project: p50 of `num` over p50 of `den`, at most `max`.
struct Target {
  std::string_view name, text;
  Kind num;
  std::size_t num_payload;
  Kind den;
  std::size_t den_payload;
  double max;
};

constexpr std::array<Target, 4> kTargets = {{
    {"empty_call_spin_over_futex_spin", "empty call p50 / raw futex+spin p50", Kind::kCallSpin, 0, Kind::kFutexSpin,
     0, 1.3},
    {"empty_call_spin_over_socketpair", "empty call p50 / socketpair p50", Kind::kCallSpin, 0, Kind::kSocketPair, 0,
     0.1},
    {"empty_call_nospin_over_futex_nospin", "empty call spin-off p50 / raw futex no-spin p50", Kind::kCallNoSpin, 0,
     Kind::kFutexNoSpin, 0, 1.2},
    {"echo_1MiB_over_socketpair_1MiB", "1 MiB echo p50 / socketpair 1 MiB p50", Kind::kCallSpin, 1 << 20,
     Kind::kSocketPair, 1 << 20, 0.7},
}};

struct Verdict {
  const Target* target;
  double ratio;
  bool pass;
};

std::vector<Verdict> Judge(const std::vector<Row>& rows) {
  std::vector<Verdict> verdicts;
  for (const Target& t : kTargets) {
    const double ratio = Find(rows, t.num, t.num_payload).stats.p50_ns / Find(rows, t.den, t.den_payload).stats.p50_ns;
    verdicts.push_back({&t, ratio, ratio <= t.max});
  }
  return verdicts;
}

void PrintJsonLine(const std::string& name, double value, std::string_view unit, const std::string& extra = "") {
  if (std::isnan(value)) return;  // no sample: leave the metric out
  std::printf("{\"name\":\"ipc_roundtrip.%s\",\"value\":%.6g,\"unit\":\"%.*s\"%s}\n", name.c_str(), value,
              static_cast<int>(unit.size()), unit.data(), extra.c_str());
}

void PrintJson(const std::vector<Row>& rows, const std::vector<Verdict>& verdicts) {
  for (const Row& row : rows) {
    const std::string samples = ",\"samples\":" + std::to_string(row.ns.size());
    const std::string stacked = samples + ",\"blocks\":" + std::to_string(row.blocks) +
                                ",\"stacked_blocks\":" + std::to_string(row.stacked);
    PrintJsonLine(row.Name() + ".p50", row.stats.p50_ns, "ns", stacked);
    PrintJsonLine(row.Name() + ".p99", row.stats.p99_ns, "ns", samples);
    PrintJsonLine(row.Name() + ".calls_per_s", row.stats.calls_per_s, "calls/s", samples);
    PrintJsonLine(row.Name() + ".cold_p50", row.cold.p50_ns, "ns", ",\"samples\":" + std::to_string(row.cold_ns.size()));
  }
  for (const Verdict& v : verdicts) {
    char extra[64];
    std::snprintf(extra, sizeof extra, ",\"target\":%g,\"pass\":%s", v.target->max, v.pass ? "true" : "false");
    PrintJsonLine("ratio." + std::string(v.target->name), v.ratio, "ratio", extra);
  }
}

void PrintTable(const std::vector<Row>& rows, const std::vector<Verdict>& verdicts) {
  std::printf("%-28s %7s %10s %10s %12s %11s %12s %8s\n", "row", "calls", "p50 us", "p99 us", "calls/s", "p50/socket",
              "cold p50 us", "stacked");
  for (const Row& row : rows) {
    const double socket = Find(rows, Kind::kSocketPair, row.payload).stats.p50_ns;
    const std::string stacked = row.blocks == 0 ? "-" : std::to_string(row.stacked) + "/" + std::to_string(row.blocks);
    std::printf("%-28s %7zu %10.3f %10.3f %12.0f %11.3f %12.3f %8s\n", row.Name().c_str(), row.ns.size(),
                row.stats.p50_ns / 1e3, row.stats.p99_ns / 1e3, row.stats.calls_per_s, row.stats.p50_ns / socket,
                row.cold.p50_ns / 1e3, stacked.c_str());
  }
  std::printf("p50/socket: over the socketpair row of the same payload (0 B: 1 byte each way)\n"
              "cold p50: the first %" PRIu64 " calls of each block, after the peer sat idle (not in p50/p99)\n"
              "stacked: blocks that ended with the peer last run on this process's CPU\n\n",
              kColdCalls);
  std::printf("%-50s %7s %8s %6s\n", "target (p50 over p50, same run)", "ratio", "target", "");
  for (const Verdict& v : verdicts) {
    std::printf("%-50.*s %7.3f %5s%.1f %6s\n", static_cast<int>(v.target->text.size()), v.target->text.data(),
                v.ratio, "<= ", v.target->max, v.pass ? "pass" : "FAIL");
  }
}

bool ParseNumber(std::string_view text, std::uint64_t& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") {
      std::fputs(kHelp.data(), stdout);
      std::exit(0);
    }
    if (arg == "--json" || arg == "--check" || arg == "--pin") {
      (arg == "--json" ? f.json : arg == "--check" ? f.check : f.pin) = true;
    } else if (arg == "--quick") {
      f.iterations = 2000;
      f.blocks = 10;
    } else if ((arg == "--iterations" || arg == "--blocks") && i + 1 < argc &&
               ParseNumber(argv[i + 1], arg == "--iterations" ? f.iterations : f.blocks)) {
      ++i;
    } else {
      Die(kExitUsage, "bad flag or value: " + std::string(arg) + " (see --help)");
    }
  }
  if (f.iterations == 0 || f.blocks == 0) Die(kExitUsage, "--iterations and --blocks must be positive");
  return f;
}

int Main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  InstallWatchdog();
  std::vector<Row> rows = MakeRows(flags);
  StartPeers(rows);
  std::fprintf(stderr, "ipc_roundtrip: %zu rows, %" PRIu64 " blocks, %d usable CPUs, %s\n", rows.size(),
               flags.blocks, ipc::UsableCpus(), flags.pin ? "pinned: this process on one CPU, peers on another"
                                                           : "unpinned");
  if (flags.pin) Pin(rows);
  RunInterleaved(rows, flags.blocks);
  for (Row& row : rows) {
    row.stats = Summarize(row.ns);
    row.cold = Summarize(row.cold_ns);
  }
  const std::vector<Verdict> verdicts = Judge(rows);
  if (flags.json) {
    PrintJson(rows, verdicts);
  } else {
    PrintTable(rows, verdicts);
  }
  rows.clear();  // kills and reaps every peer
  const bool missed = std::ranges::any_of(verdicts, [](const Verdict& v) { return !v.pass; });
  return flags.check && missed ? kExitTargetMissed : 0;
}

}  // namespace
}  // namespace sv::bench

int main(int argc, char** argv) { return sv::bench::Main(argc, argv); }
