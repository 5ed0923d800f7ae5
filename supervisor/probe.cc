#include "supervisor/probe.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "base/unique_fd.h"
#include "worker/zygote.h"

namespace sv::supervisor {

std::string DefaultWorkerPath() {
  if (const char* env = getenv("SV_WORKER"); env != nullptr && *env != '\0') return env;
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "sv-worker";
  std::filesystem::path dir = std::filesystem::path(std::string(self, static_cast<std::size_t>(n))).parent_path();
  for (const char* rel : {"sv-worker", "../worker/sv-worker", "../../worker/sv-worker"}) {
    std::error_code ec;
    if (std::filesystem::exists(dir / rel, ec)) return (dir / rel).lexically_normal().string();
  }
  return "sv-worker";
}

ipc::SpinOptions SpinOptionsFor(const config::SpinSetting& spin) {
  ipc::SpinOptions options;
  if (spin.mode == config::SpinSetting::Mode::kOff) options.budget = std::chrono::nanoseconds(0);
  if (spin.mode == config::SpinSetting::Mode::kFixed) {
    options.budget = spin.budget;
    options.adaptive = false;
  }
  return options;
}

SpawnRequest RequestFor(const config::PoolConfig& c, const std::string& worker_path) {
  SpawnRequest request;
  request.worker_path = worker_path;
  request.options.plugin = c.plugin.string();
  request.options.pool = c.name;
  request.options.config = c.plugin_config;
  request.options.limits.address_space = c.limits.address_space;
  if (c.limits.cpu_time) request.options.limits.cpu_seconds = static_cast<std::uint64_t>(c.limits.cpu_time->count());
  request.options.limits.open_files = c.limits.open_files;
  request.options.spin = SpinOptionsFor(c.channel.spin);
  request.stderr_fd = -1;  // the probe's complaints come back over its socket
  request.env = EnvironmentWith({c.env.begin(), c.env.end()});
  return request;
}

std::optional<std::string> ProbePlugin(const config::PoolConfig& pool, const std::string& worker_path) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return Error::FromErrno("socketpair", errno).ToString();
  }
  UniqueFd ours(ends[0]), theirs(ends[1]);
  SpawnRequest request = RequestFor(pool, worker_path);
  request.options.zygote = true;
  request.request_fd = theirs.get();
  auto probe = Spawn(request);
  if (!probe) return probe.error().ToString();
  theirs.Reset();
  Status loaded = worker::AwaitZygote(ours.get(), Deadline::After(pool.start_timeout));
  ours.Reset();  // the zygote exits 0 on the hang-up
  (void)SendSignal(probe->pidfd.get(), SIGKILL);
  (void)Reap(probe->pidfd.get(), true);
  // Loadable but not forkable is fine: the pool's workers are then exec'd.
  if (loaded || loaded.error().code() == ErrorCode::kUnsupported) return std::nullopt;
  return loaded.error().message();
}

config::PluginProbe PluginProbeFor(std::string worker_path) {
  return [worker_path = std::move(worker_path)](const config::PoolConfig& pool) {
    return ProbePlugin(pool, worker_path);
  };
}

}  // namespace sv::supervisor
