// A test harness that plays the supervisor's part for one sv-worker: spawns it
// with a channel, watches its pidfd (declaring the peer dead on exit), kills
// it through the pidfd and reaps it. Runs in the test process.
#pragma once

#include <sys/types.h>

#include <expected>
#include <memory>
#include <string>
#include <thread>

#include "base/deadline.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "ipc/channel.h"
#include "supervisor/spawn.h"
#include "worker/options.h"

namespace sv::testing {

// How a worker ended: the supervisor's own record of it.
using ExitInfo = supervisor::ExitInfo;

struct SpawnOptions {
  worker::Options worker;                 // parent 0 is filled in with ours
  ipc::ChannelOptions channel;
  int stdin_fd = -1;                      // the worker's stdin; -1: /dev/null
  int stdout_fd = -1;                     // the worker's stdout; -1: /dev/null
  bool reset_signals = true;              // false: the worker inherits our mask and SIG_IGNs
  int stderr_fd = 2;                      // the worker's stderr
  std::string worker_path;                // default: SV_WORKER_PATH
};

class WorkerProcess {
 public:
  // Spawns sv-worker (posix_spawn + pidfd_open). Does not wait for readiness.
  // The worker dies with the calling *thread* (PR_SET_PDEATHSIG follows the
  // thread that forked it): spawn from a thread that outlives the worker.
  [[nodiscard]] static std::expected<std::unique_ptr<WorkerProcess>, Error> Spawn(SpawnOptions options);
  // Spawns and waits for the ready report.
  [[nodiscard]] static std::expected<std::unique_ptr<WorkerProcess>, Error> Start(SpawnOptions options,
                                                                                  Deadline deadline);
  ~WorkerProcess();  // kills and reaps the worker if it still runs

  ipc::Channel& channel() { return *channel_; }
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }

  // pidfd_send_signal.
  [[nodiscard]] Status Signal(int sig);
  // Waits until the worker exited (and reaps it), until `deadline`; then
  // removes its private TMPDIR, as the supervisor does.
  [[nodiscard]] std::expected<ExitInfo, Error> Wait(Deadline deadline);

 private:
  WorkerProcess() = default;
  std::unique_ptr<ipc::Channel> channel_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  std::jthread watcher_;  // marks the channel's peer dead when the pidfd fires
  std::optional<ExitInfo> exit_;
  std::string tmpdir_;
};

// Paths of programs and plugins built next to the tests.
std::string WorkerPath();
std::string PluginPath(const std::string& name);  // e.g. "echo" → .../libecho_plugin.so

// Options for a worker of `plugin` in pool "test", with the test's pid as parent.
SpawnOptions DefaultSpawnOptions(const std::string& plugin);

// Whether this build runs under AddressSanitizer, whose shadow memory does not
// fit under an address-space limit.
constexpr bool kAddressSanitizer =
#if defined(__SANITIZE_ADDRESS__)
    true;
#else
    false;
#endif

// Makes this process a child subreaper, so orphans of a killed worker become
// its children.
void BecomeSubreaper();

}  // namespace sv::testing
