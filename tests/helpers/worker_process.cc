#include "tests/helpers/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "stop/calls.h"
#include "supervisor/spawn.h"
#include "worker/tmpdir.h"

namespace sv::testing {

std::string WorkerPath() { return SV_WORKER_PATH; }

std::string PluginPath(const std::string& name) {
  // The test helpers' plugins live apart from the examples.
  for (const char* helper : {"misbehave", "bad_abi", "init_fails", "threads_at_load"}) {
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
  supervisor::SpawnRequest request;
  request.worker_path = options.worker_path.empty() ? WorkerPath() : options.worker_path;
  request.options = options.worker;
  request.request_fd = w->channel_->request_fd();
  request.response_fd = w->channel_->response_fd();
  request.stdin_fd = options.stdin_fd;
  request.stdout_fd = options.stdout_fd;
  request.stderr_fd = options.stderr_fd;
  request.reset_signals = options.reset_signals;
  request.env = supervisor::EnvironmentWith({});
  auto process = supervisor::Spawn(request);
  if (!process) return std::unexpected(process.error());
  w->pid_ = process->pid;
  w->pidfd_ = std::move(process->pidfd);
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

Status WorkerProcess::Signal(int sig) { return supervisor::SendSignal(pidfd_.get(), sig); }

std::expected<ExitInfo, Error> WorkerProcess::Wait(Deadline deadline) {
  if (exit_) return *exit_;
  pollfd p{pidfd_.get(), POLLIN, 0};
  int ready = 0;
  do {
    ready = poll(&p, 1, deadline.RemainingMillis());
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return FailErrno("poll pidfd", errno);
  if (ready == 0) return Fail(ErrorCode::kDeadlineExceeded, "worker " + std::to_string(pid_) + " still runs");
  auto exit = supervisor::Reap(pidfd_.get(), true);
  if (!exit) return std::unexpected(exit.error());
  exit_ = *exit;
  if (!tmpdir_.empty()) {
    if (Status s = worker::RemoveTree(tmpdir_); !s) return std::unexpected(s.error());
  }
  return *exit_;
}

}  // namespace sv::testing
