// Process-wide set-up of the stop library: the wake-up signal and its handler,
// and the choice of strategy.
#include "stop/strategy.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

#include "stop/internal/testing.h"
#include "stop/internal/thread_state.h"

#if defined(__x86_64__)
extern "C" const char sv_stop_pc_entry[] __asm__("sv_stop_pc_syscall");
extern "C" const char sv_stop_pc_begin[];
extern "C" const char sv_stop_pc_end[];
extern "C" const char sv_stop_pc_syscall_insn[];
extern "C" const char sv_stop_pc_stopped[];
#endif

namespace sv::stop {
namespace {

using internal::CurrentThread;

struct Config {
  std::mutex mu;  // serialises Init; readers use the atomics
  std::atomic<bool> initialized{false};
  std::atomic<int> signal{0};
  std::atomic<Strategy> strategy{Strategy::kSigmask};
  std::atomic<pid_t> pid{0};
};

Config& config() {
  static Config* c = new Config;  // never destroyed: threads may outlive statics
  return *c;
}

// Runs on the signalled thread. Async-signal-safe: it reads and writes only this
// thread's registers and state, and may re-send itself the signal. The rseq
// strategy needs nothing here: the kernel has already moved an interrupted
// critical section to its abort handler.
void OnWakeSignal(int sig, siginfo_t*, void* context) {
#if defined(__x86_64__)
  internal::ThreadState& thread = CurrentThread();
  if (!thread.in_pc_stub.load(std::memory_order_relaxed) ||
      thread.stop_word.load(std::memory_order_relaxed) == 0) {
    return;
  }
  auto* uc = static_cast<ucontext_t*>(context);
  greg_t& pc = uc->uc_mcontext.gregs[REG_RIP];
  auto at = [](const char* symbol) { return reinterpret_cast<greg_t>(symbol); };
  // At the syscall instruction itself the syscall has not run (or the kernel
  // rewound the thread to restart it): the stop still wins.
  if (pc >= at(sv_stop_pc_begin) && pc <= at(sv_stop_pc_syscall_insn)) {
    pc = at(sv_stop_pc_stopped);
    thread.pc_redirects.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Elsewhere in the stub (before the check, or after the syscall returned
  // EINTR): the check or the caller sees the stop word. Nothing to do.
  if (pc >= at(sv_stop_pc_entry) && pc < at(sv_stop_pc_end)) return;
  // Outside the stub while the thread is in it: another signal's handler runs on
  // top of the stub and, with SA_RESTART, may go back to the syscall instruction.
  // Keep the wake-up pending and blocked until that handler's context is gone;
  // then it lands in the window (musl's cancellation does the same). The mask
  // changed behind EnsureMask's back.
  sigaddset(&uc->uc_sigmask, sig);
  thread.mask = internal::MaskState::kUnknown;
  syscall(SYS_tgkill, internal::ProcessId(), thread.tid, sig);
#else
  (void)sig, (void)context;
#endif
}

std::string SignalName(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

Status CheckSignalUsable(int sig) {
  bool ok = sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
  if (!ok) {
    return Fail(ErrorCode::kInvalidArgument,
                "stop wake-up signal " + std::to_string(sig) +
                    " is not SIGUSR1, SIGUSR2 or a real-time signal");
  }
  return {};
}

// Installs OnWakeSignal unless the application already handles `sig`.
Status InstallHandler(int sig) {
  struct sigaction old {};
  if (sigaction(sig, nullptr, &old) != 0) return FailErrno("sigaction", errno);
  bool ours = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == OnWakeSignal;
  if (!ours && old.sa_handler != SIG_DFL) {
    return Fail(ErrorCode::kInUse,
                "stop wake-up signal " + SignalName(sig) +
                    " already has a handler installed by the application; choose another "
                    "signal with sv::stop::Options::signal");
  }
  struct sigaction act {};
  act.sa_sigaction = OnWakeSignal;
  act.sa_flags = SA_SIGINFO;  // deliberately no SA_RESTART: blocked calls must return EINTR
  sigemptyset(&act.sa_mask);
  if (sigaction(sig, &act, nullptr) != 0) return FailErrno("sigaction " + SignalName(sig), errno);
  return {};
}

Strategy BestAvailable() {
  if (Available(Strategy::kRseq)) return Strategy::kRseq;
  if (Available(Strategy::kSignalPc)) return Strategy::kSignalPc;
  return Strategy::kSigmask;
}

Status CheckAvailable(Strategy strategy) {
  if (Available(strategy)) return {};
  return Fail(ErrorCode::kUnsupported, "stop strategy " + std::string(StrategyName(strategy)) +
                                           " is not available on this machine");
}

std::expected<Strategy, Error> InitLocked(Config& c, const Options& options) {
  int sig = options.signal != 0 ? options.signal : SIGRTMIN + 3;
  if (auto ok = CheckSignalUsable(sig); !ok) return std::unexpected(ok.error());
  // Only probe when asked to choose: probing rseq registers this thread's area
  // when glibc did not, and glibc then registers the threads it creates.
  Strategy strategy = options.strategy ? *options.strategy : BestAvailable();
  if (auto ok = CheckAvailable(strategy); !ok) return std::unexpected(ok.error());
  c.signal.store(sig);  // before installing: the handler's thread state reads it
  if (auto ok = InstallHandler(sig); !ok) {
    c.signal.store(0);
    return std::unexpected(ok.error());
  }
  c.strategy.store(strategy);
  c.pid.store(getpid());
  pthread_atfork(nullptr, nullptr, [] {
    config().pid.store(getpid());
    internal::ResetThreadAfterFork();
  });
  c.initialized.store(true, std::memory_order_release);
  return strategy;
}

}  // namespace

std::string_view StrategyName(Strategy strategy) {
  switch (strategy) {
    case Strategy::kRseq: return "rseq";
    case Strategy::kSignalPc: return "signal-pc";
    case Strategy::kSigmask: return "sigmask";
    case Strategy::kEventFd: return "eventfd";
  }
  return "unknown";
}

std::expected<Strategy, Error> Init(const Options& options) {
  Config& c = config();
  std::lock_guard lock(c.mu);
  if (!c.initialized.load()) return InitLocked(c, options);
  if (options.signal != 0 && options.signal != c.signal.load()) {
    return Fail(ErrorCode::kInvalidArgument,
                "stop library already initialised with wake-up signal " +
                    SignalName(c.signal.load()));
  }
  if (options.strategy) {
    if (auto ok = SetStrategy(*options.strategy); !ok) return std::unexpected(ok.error());
  }
  return c.strategy.load();
}

std::expected<Strategy, Error> ActiveStrategy() {
  Config& c = config();
  if (c.initialized.load(std::memory_order_acquire)) return c.strategy.load(std::memory_order_relaxed);
  return Init();
}

bool Available(Strategy strategy) {
  switch (strategy) {
    case Strategy::kRseq:
      return internal::HaveStubs() && internal::RseqField(CurrentThread()) != nullptr;
    case Strategy::kSignalPc: return internal::HaveStubs();
    case Strategy::kSigmask:
    case Strategy::kEventFd: return true;
  }
  return false;
}

Status SetStrategy(Strategy strategy) {
  if (auto ok = CheckAvailable(strategy); !ok) return ok;
  if (auto init = ActiveStrategy(); !init) return std::unexpected(init.error());
  config().strategy.store(strategy);
  return {};
}

int WakeSignal() { return config().signal.load(); }

ThreadStats ThisThreadStats() {
  internal::ThreadState& thread = CurrentThread();
  return {thread.rseq_aborts[0], thread.rseq_aborts[1],
          thread.pc_redirects.load(std::memory_order_relaxed)};
}

namespace internal {

Strategy CurrentStrategy() { return config().strategy.load(std::memory_order_relaxed); }
bool Initialized() { return config().initialized.load(std::memory_order_acquire); }
int Signal() { return config().signal.load(std::memory_order_relaxed); }
pid_t ProcessId() { return config().pid.load(std::memory_order_relaxed); }

void SetRaceWindowForTesting(std::uint32_t pause_loops) {
  CurrentThread().window_spins = pause_loops;
}

void RaceWindowSpin(std::uint32_t pause_loops) {
  for (std::uint32_t i = 0; i < pause_loops; ++i) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }
}

}  // namespace internal
}  // namespace sv::stop
