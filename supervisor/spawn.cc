#include "supervisor/spawn.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "ipc/layout.h"

extern char** environ;

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
  fds.null = UniqueFd(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!fds.null) return FailErrno("open /dev/null", errno);
  auto request = DupHigh(r.request_fd);
  if (!request) return std::unexpected(request.error());
  auto response = DupHigh(r.response_fd);
  if (!response) return std::unexpected(response.error());
  fds.request = std::move(*request);
  fds.response = std::move(*response);
  if (r.options.notify) {
    auto notify = DupHigh(r.notify_fd);
    if (!notify) return std::unexpected(notify.error());
    fds.notify = std::move(*notify);
  }
  const int given[3] = {r.stdin_fd, r.stdout_fd, r.stderr_fd};
  for (int i = 0; i < 3; ++i) fds.stdio[i] = given[i] >= 0 ? given[i] : fds.null.get();
  return fds;
}

// Between clone3 and execve: async-signal-safe calls only, no allocation.
// Reports an exec failure's errno through `error_fd` (close-on-exec).
[[noreturn]] void ExecChild(const ChildFds& fds, const SpawnRequest& r, char* const* argv, char* const* envp,
                            int error_fd) {
  for (int i = 0; i < 3; ++i) dup2(fds.stdio[i], i);
  dup2(fds.request.get(), ipc::kRequestFd);
  dup2(fds.response.get(), ipc::kResponseFd);
  if (fds.notify) dup2(fds.notify.get(), worker::kNotifyFd);
  if (r.reset_signals) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  setpgid(0, 0);
  execve(r.worker_path.c_str(), argv, envp);
  const int err = errno;
  (void)!write(error_fd, &err, sizeof err);
  _exit(127);
}

// clone3 with CLONE_INTO_CGROUP: the child is born in the worker's cgroup.
// CLONE_VFORK holds us until it has exec'd (or failed to).
std::expected<SpawnedProcess, Error> CloneInto(const ChildFds& fds, const SpawnRequest& r, char* const* argv,
                                               char* const* envp) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return FailErrno("pipe2", errno);
  UniqueFd error_read(pipe_fds[0]), error_write(pipe_fds[1]);
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD | CLONE_INTO_CGROUP | CLONE_VFORK;
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<std::uint64_t>(r.cgroup_fd);
  const long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return FailErrno("clone3 CLONE_INTO_CGROUP", errno);
  if (pid == 0) ExecChild(fds, r, argv, envp, error_write.get());
  SpawnedProcess child{static_cast<pid_t>(pid), UniqueFd(pidfd)};
  error_write.Reset();
  int err = 0;
  if (read(error_read.get(), &err, sizeof err) == sizeof err) {
    (void)Reap(child.pidfd.get(), true);
    return FailErrno("execve " + r.worker_path, err);
  }
  return child;
}

}  // namespace

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
  posix_spawn_file_actions_adddup2(&actions, fds->response.get(), ipc::kResponseFd);
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
