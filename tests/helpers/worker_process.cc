#include "tests/helpers/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <vector>

#include "ipc/layout.h"
#include "stop/calls.h"
#include "worker/tmpdir.h"

extern char** environ;

namespace sv::testing {
namespace {

std::expected<UniqueFd, Error> DupHigh(int fd) {
  UniqueFd dup(fcntl(fd, F_DUPFD_CLOEXEC, 10));
  if (!dup) return FailErrno("fcntl F_DUPFD_CLOEXEC", errno);
  return dup;
}

}  // namespace

std::string ExitInfo::ToString() const {
  return signaled ? "killed by signal " + std::to_string(code) : "exited with " + std::to_string(code);
}

std::string WorkerPath() { return SV_WORKER_PATH; }

std::string PluginPath(const std::string& name) {
  // The test helpers' plugins live apart from the examples.
  for (const char* helper : {"misbehave", "bad_abi", "init_fails"}) {
    if (name == helper) return std::string(SV_HELPER_PLUGIN_DIR) + "/lib" + name + "_plugin.so";
  }
  return std::string(SV_PLUGIN_DIR) + "/lib" + name + "_plugin.so";
}

SpawnOptions DefaultSpawnOptions(const std::string& plugin) {
  SpawnOptions options;
  options.worker.plugin = PluginPath(plugin);
  options.worker.pool = "test";
  options.channel.request_capacity = 1u << 20;
  options.channel.response_capacity = 1u << 20;
  return options;
}

void BecomeSubreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

std::expected<std::unique_ptr<WorkerProcess>, Error> WorkerProcess::Spawn(SpawnOptions options) {
  std::unique_ptr<WorkerProcess> w(new WorkerProcess());
  w->tmpdir_ = options.worker.tmpdir;
  auto channel = ipc::Channel::Create(options.channel);
  if (!channel) return std::unexpected(channel.error());
  w->channel_ = std::move(*channel);
  // dup2 onto the same number would keep FD_CLOEXEC; move the fds out of the way first.
  auto request = DupHigh(w->channel_->request_fd());
  auto response = DupHigh(w->channel_->response_fd());
  if (!request || !response) return std::unexpected(!request ? request.error() : response.error());
  UniqueFd null(open("/dev/null", O_RDWR | O_CLOEXEC));

  if (options.worker.parent == 0) options.worker.parent = getpid();
  std::string path = options.worker_path.empty() ? WorkerPath() : options.worker_path;
  std::vector<std::string> args = worker::ToArguments(options.worker);
  args.insert(args.begin(), path);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, options.stdin_fd >= 0 ? options.stdin_fd : null.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, options.stdout_fd >= 0 ? options.stdout_fd : null.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, options.stderr_fd >= 0 ? options.stderr_fd : null.get(), 2);
  posix_spawn_file_actions_adddup2(&actions, request->get(), ipc::kRequestFd);
  posix_spawn_file_actions_adddup2(&actions, response->get(), ipc::kResponseFd);
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
  posix_spawnattr_setflags(&attr, options.reset_signals ? POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP
                                                       : POSIX_SPAWN_SETPGROUP);
  int rc = posix_spawn(&w->pid_, path.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return FailErrno("posix_spawn " + path, rc);
  // Our unreaped child: its pid cannot be reused before the pidfd exists.
  w->pidfd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, w->pid_, 0)));
  if (!w->pidfd_) {
    const int err = errno;
    kill(w->pid_, SIGKILL);
    waitpid(w->pid_, nullptr, 0);
    w->pid_ = -1;
    return FailErrno("pidfd_open", err);
  }
  w->watcher_ = std::jthread([pidfd = w->pidfd_.get(), channel = w->channel_.get()](std::stop_token token) {
    pollfd p{pidfd, POLLIN, 0};
    if (stop::Poll(token, std::span(&p, 1)).has_value()) channel->MarkPeerDead();
  });
  return w;
}

std::expected<std::unique_ptr<WorkerProcess>, Error> WorkerProcess::Start(SpawnOptions options, Deadline deadline) {
  auto w = Spawn(std::move(options));
  if (!w) return w;
  if (Status s = (*w)->channel().WaitReady(deadline); !s) return std::unexpected(s.error());
  return w;
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0 && !exit_) {
    (void)Signal(SIGKILL);
    (void)Wait(Deadline::After(std::chrono::seconds(10)));
  }
  watcher_.request_stop();
}

Status WorkerProcess::Signal(int sig) {
  if (syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) != 0) {
    return FailErrno("pidfd_send_signal " + std::to_string(sig), errno);
  }
  return {};
}

std::expected<ExitInfo, Error> WorkerProcess::Wait(Deadline deadline) {
  if (exit_) return *exit_;
  pollfd p{pidfd_.get(), POLLIN, 0};
  int ready = 0;
  do {
    ready = poll(&p, 1, deadline.RemainingMillis());
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return FailErrno("poll pidfd", errno);
  if (ready == 0) return Fail(ErrorCode::kDeadlineExceeded, "worker " + std::to_string(pid_) + " still runs");
  siginfo_t info{};
  int rc = 0;
  do {
    rc = waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return FailErrno("waitid P_PIDFD", errno);
  exit_ = ExitInfo{info.si_code != CLD_EXITED, info.si_status};
  if (!tmpdir_.empty()) {
    if (Status s = worker::RemoveTree(tmpdir_); !s) return std::unexpected(s.error());
  }
  return *exit_;
}

}  // namespace sv::testing
