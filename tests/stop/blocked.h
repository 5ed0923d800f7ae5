// Test support for stop/: run a stop-aware call on its own thread, wait (with a
// deadline) until the kernel reports that thread blocked in a given system call,
// request the stop, and collect the outcome.
#pragma once

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <initializer_list>
#include <string>
#include <thread>

#include "base/deadline.h"
#include "base/error.h"
#include "stop/strategy.h"

namespace sv::stop::testing {

using namespace std::chrono_literals;

template <class T>
Status ToStatus(const std::expected<T, Error>& r) {
  if (r) return {};
  return std::unexpected(r.error());
}

// The system call `tid` is blocked in, or -1 while it runs in user space.
inline long CurrentSyscall(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  in >> first;
  if (first.empty() || first == "running") return -1;
  return std::strtol(first.c_str(), nullptr, 10);
}

// Polls /proc until `tid` sleeps in one of `syscalls`; false at the deadline.
inline bool WaitUntilBlockedIn(pid_t tid, std::initializer_list<long> syscalls, Deadline deadline) {
  while (!deadline.Expired()) {
    long nr = CurrentSyscall(tid);
    for (long want : syscalls) {
      if (nr == want) return true;
    }
    std::this_thread::yield();
  }
  return false;
}

// Sets a flag when destroyed: proves the stopped thread unwound normally.
struct Witness {
  std::atomic<bool>* ran;
  ~Witness() { ran->store(true); }
};

using Call = std::function<Status(std::stop_token)>;

struct Outcome {
  Status status;
  bool destructors_ran;
};

// Runs `call` on a new thread; once it blocks in one of `syscalls`, requests a
// stop and returns what the call returned. A missed stop cannot be joined, so it
// ends the test binary with a message instead of hanging until the timeout.
inline Outcome StopWhileBlocked(const Call& call, std::initializer_list<long> syscalls) {
  std::atomic<bool> ran{false};
  std::promise<pid_t> tid;
  std::promise<Status> result;
  std::jthread thread([&](std::stop_token token) {
    Witness witness{&ran};
    tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
    result.set_value(call(token));
  });
  auto tid_future = tid.get_future();
  if (tid_future.wait_for(5s) != std::future_status::ready ||
      !WaitUntilBlockedIn(tid_future.get(), syscalls, Deadline::After(5s))) {
    std::fprintf(stderr, "FATAL: the call never blocked in the expected system call\n");
    std::_Exit(1);
  }
  thread.request_stop();
  auto done = result.get_future();
  if (done.wait_for(5s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: stop missed: the thread is still blocked 5 s after the request\n");
    std::_Exit(1);
  }
  Status status = done.get();
  thread.join();
  return {status, ran.load()};
}

// Runs `call` with a token whose stop was requested before the call.
inline Status CallAlreadyStopped(const Call& call) {
  std::stop_source source;
  source.request_stop();
  return call(source.get_token());
}

// Every strategy, for INSTANTIATE_TEST_SUITE_P; unavailable ones skip in SetUp.
inline auto AllStrategies() {
  return ::testing::Values(Strategy::kRseq, Strategy::kSignalPc, Strategy::kSigmask,
                           Strategy::kEventFd);
}

// Test names for strategy-parameterised suites: "rseq", "signalpc", "sigmask".
inline std::string StrategyParamName(const ::testing::TestParamInfo<Strategy>& param) {
  std::string name(StrategyName(param.param));
  std::erase(name, '-');
  return name;
}

}  // namespace sv::stop::testing
