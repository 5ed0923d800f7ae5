#include "supervisor/spawn.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>

#include "ipc/layout.h"

extern char** environ;

#ifndef SV_HAVE_CLONE3_RUN
#define SV_HAVE_CLONE3_RUN 0
#endif

namespace sv::supervisor {
namespace {

// A copy of `fd` above the fds the worker receives, so a dup2 onto its target
// number never meets another source (and never keeps FD_CLOEXEC by being a no-op).
std::expected<UniqueFd, Error> DupHigh(int fd) {
  UniqueFd dup(fcntl(fd, F_DUPFD_CLOEXEC, 10));
  if (!dup) return FailErrno("fcntl F_DUPFD_CLOEXEC fd=" + std::to_string(fd), errno);
  return dup;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// The worker's fds 0-5, each a high duplicate (or /dev/null for stdio).
struct ChildFds {
  UniqueFd null, request, response, notify;
  int stdio[3] = {-1, -1, -1};
};

std::expected<ChildFds, Error> PrepareFds(const SpawnRequest& r) {
  ChildFds fds;
  UniqueFd null(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return FailErrno("open /dev/null", errno);
  // Above stdio: a dup2 onto its own number would keep FD_CLOEXEC.
  auto high_null = DupHigh(null.get());
  if (!high_null) return std::unexpected(high_null.error());
  fds.null = std::move(*high_null);
  auto request = DupHigh(r.request_fd);
  if (!request) return std::unexpected(request.error());
  fds.request = std::move(*request);
  if (r.response_fd >= 0) {  // a zygote has only its socket, as fd 3
    auto response = DupHigh(r.response_fd);
    if (!response) return std::unexpected(response.error());
    fds.response = std::move(*response);
  }
  if (r.options.notify) {
    auto notify = DupHigh(r.notify_fd);
    if (!notify) return std::unexpected(notify.error());
    fds.notify = std::move(*notify);
  }
  const int given[3] = {r.stdin_fd, r.stdout_fd, r.stderr_fd};
  for (int i = 0; i < 3; ++i) fds.stdio[i] = given[i] >= 0 ? given[i] : fds.null.get();
  return fds;
}

// What the child of CloneInto() needs; it shares our memory until it execs.
struct ChildPlan {
  const ChildFds* fds;
  const SpawnRequest* request;
  char* const* argv;
  char* const* envp;
  sigset_t mask;           // the signal mask to exec with
  volatile int exec_errno;  // set by the child when execve fails
};

// Between clone3 and execve: async-signal-safe calls only, no allocation.
// With CLONE_VM the child writes errno into our thread's errno: the parent
// saves and restores it.
int ExecChild(void* arg) {
  ChildPlan& plan = *static_cast<ChildPlan*>(arg);
  const ChildFds& fds = *plan.fds;
  for (int i = 0; i < 3; ++i) dup2(fds.stdio[i], i);
  dup2(fds.request.get(), ipc::kRequestFd);
  if (fds.response) dup2(fds.response.get(), ipc::kResponseFd);
  if (fds.notify) dup2(fds.notify.get(), worker::kNotifyFd);
  // Our handlers must not run in the child (it has its own copy of the table):
  // every signal to its default before the mask opens.
  struct sigaction dfl {}, current {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigaction(sig, nullptr, &current) != 0) continue;
    if (current.sa_handler == SIG_IGN && !plan.request->reset_signals) continue;  // kept, as exec keeps it
    if (current.sa_handler != SIG_DFL) sigaction(sig, &dfl, nullptr);
  }
  sigprocmask(SIG_SETMASK, &plan.mask, nullptr);
  setpgid(0, 0);
  execve(plan.request->worker_path.c_str(), plan.argv, plan.envp);
  plan.exec_errno = errno;
  _exit(127);
}

}  // namespace
}  // namespace sv::supervisor

#if SV_HAVE_CLONE3_RUN
extern "C" long sv_clone3_run(clone_args* args, std::size_t size, int (*fn)(void*), void* arg);

namespace sv::supervisor {
namespace {

// clone3 with CLONE_INTO_CGROUP: the child is born in the worker's cgroup.
// CLONE_VM | CLONE_VFORK, as posix_spawn does: no copy of our page tables (a
// supervisor of a thousand workers would pay for each), and we resume once
// the child has exec'd or failed to.
std::expected<SpawnedProcess, Error> CloneInto(const ChildFds& fds, const SpawnRequest& r, char* const* argv,
                                               char* const* envp) {
  constexpr std::size_t kStackSize = 64 << 10;
  auto stack = std::make_unique<std::byte[]>(kStackSize);
  ChildPlan plan{&fds, &r, argv, envp, {}, 0};
  sigset_t all, old;
  sigfillset(&all);
  // No signal may run our handlers on the child's stack before it resets them.
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (r.reset_signals) sigemptyset(&plan.mask);
  else plan.mask = old;
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP;
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<std::uint64_t>(stack.get());
  args.stack_size = kStackSize;
  args.cgroup = static_cast<std::uint64_t>(r.cgroup_fd);
  const int saved_errno = errno;
  const long pid = sv_clone3_run(&args, sizeof args, &ExecChild, &plan);
  errno = saved_errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return FailErrno("clone3 CLONE_INTO_CGROUP", static_cast<int>(-pid));
  SpawnedProcess child{static_cast<pid_t>(pid), UniqueFd(pidfd)};
  if (plan.exec_errno != 0) {
    (void)Reap(child.pidfd.get(), true);
    return FailErrno("execve " + r.worker_path, plan.exec_errno);
  }
  return child;
}
#else
std::expected<SpawnedProcess, Error> CloneInto(const ChildFds&, const SpawnRequest&, char* const*, char* const*) {
  return Fail(ErrorCode::kUnsupported, "starting a worker inside its cgroup is implemented for x86-64 only");
}
#endif

}  // namespace

bool CanSpawnIntoCgroup() { return SV_HAVE_CLONE3_RUN != 0; }

std::string ExitInfo::ToString() const {
  if (!signaled) return "exited with " + std::to_string(code);
  std::string s = "killed by signal " + std::to_string(code);
  if (const char* name = sigabbrev_np(code)) s += std::string(" (SIG") + name + ")";
  if (core_dumped) s += ", core dumped";
  return s;
}

std::expected<SpawnedProcess, Error> Spawn(const SpawnRequest& request) {
  auto fds = PrepareFds(request);
  if (!fds) return std::unexpected(fds.error());
  worker::Options options = request.options;
  if (options.parent == 0) options.parent = getpid();
  std::vector<std::string> args = worker::ToArguments(options);
  args.insert(args.begin(), request.worker_path);
  std::vector<std::string> env = request.env;
  std::vector<char*> argv = Pointers(args), envp = Pointers(env);
  if (request.cgroup_fd >= 0) return CloneInto(*fds, request, argv.data(), envp.data());

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int i = 0; i < 3; ++i) posix_spawn_file_actions_adddup2(&actions, fds->stdio[i], i);
  posix_spawn_file_actions_adddup2(&actions, fds->request.get(), ipc::kRequestFd);
  if (fds->response) posix_spawn_file_actions_adddup2(&actions, fds->response.get(), ipc::kResponseFd);
  if (fds->notify) posix_spawn_file_actions_adddup2(&actions, fds->notify.get(), worker::kNotifyFd);
  // No signal mask or ignored signal of ours leaks into the worker (it resets
  // them too), and it starts in its own process group.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  short flags = POSIX_SPAWN_SETPGROUP;
  if (request.reset_signals) flags |= POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  posix_spawnattr_setflags(&attr, flags);
  SpawnedProcess child;
  const int rc = posix_spawn(&child.pid, request.worker_path.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return FailErrno("posix_spawn " + request.worker_path, rc);
  // Our unreaped child: its pid cannot be reused before the pidfd exists.
  child.pidfd = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, child.pid, 0)));
  if (!child.pidfd) {
    const int err = errno;
    kill(child.pid, SIGKILL);
    while (waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return FailErrno("pidfd_open pid=" + std::to_string(child.pid), err);
  }
  return child;
}

Status SendSignal(int pidfd, int sig) {
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) {
    return FailErrno("pidfd_send_signal " + std::to_string(sig), errno);
  }
  return {};
}

std::expected<ExitInfo, Error> Reap(int pidfd, bool block) {
  siginfo_t info{};
  int rc = 0;
  do {
    rc = waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | (block ? 0 : WNOHANG));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return FailErrno("waitid P_PIDFD", errno);
  if (info.si_pid == 0) return Fail(ErrorCode::kInUse, "the process still runs");
  return ExitInfo{info.si_code != CLD_EXITED, info.si_status, info.si_code == CLD_DUMPED};
}

std::vector<std::string> EnvironmentWith(const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const std::string_view key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [k, v] : overrides) replaced = replaced || k == key;
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [k, v] : overrides) env.push_back(k + "=" + v);
  return env;
}

}  // namespace sv::supervisor
