#include "daemon/controller.h"

#include "config/load.h"
#include "supervisor/probe.h"

namespace sv::daemon {

ReloadSummary Summarize(const config::ConfigDiff& diff) {
  ReloadSummary summary{diff.added, diff.removed, {}, {}, diff.supervisor_keys};
  for (const config::PoolChange& change : diff.changed) {
    (change.resize_only ? summary.resized : summary.changed).push_back(change.name);
  }
  return summary;
}

std::expected<std::unique_ptr<Controller>, Error> Controller::Create(std::filesystem::path config_path,
                                                                     config::Config config,
                                                                     supervisor::SupervisorOptions options) {
  std::unique_ptr<Controller> controller(new Controller());
  controller->config_path_ = std::move(config_path);
  if (options.worker_path.empty()) options.worker_path = supervisor::DefaultWorkerPath();
  controller->worker_path_ = options.worker_path;
  auto started = supervisor::Supervisor::Create(config, std::move(options));
  if (!started) return std::unexpected(started.error());
  controller->supervisor_ = std::move(*started);
  controller->running_ = std::move(config);
  controller->started_ = std::chrono::steady_clock::now();
  return controller;
}

config::Config Controller::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

std::expected<config::Config, Error> Controller::Load() const {
  auto loaded = config::LoadFile(config_path_);
  if (!loaded) return std::unexpected(loaded.error().ToError());
  // Probe only what would start anew: running pools keep their loaded plugin.
  const config::Config before = running();
  config::Config fresh;
  for (const auto& [name, pool] : loaded->pools) {
    auto old = before.pools.find(name);
    if (old == before.pools.end() || !(old->second == pool)) fresh.pools.emplace(name, pool);
  }
  fresh.path = loaded->path;
  if (auto ok = config::Validate(fresh, supervisor::PluginProbeFor(worker_path_)); !ok) {
    return std::unexpected(ok.error().ToError());
  }
  return std::move(*loaded);
}

std::expected<ReloadSummary, Error> Controller::Reread() const {
  auto loaded = Load();
  if (!loaded) return std::unexpected(loaded.error());
  return Summarize(config::Diff(running(), *loaded));
}

std::expected<ReloadSummary, Error> Controller::Update(const std::optional<std::set<std::string>>& only) {
  std::lock_guard reload(reload_mu_);
  auto loaded = Load();
  if (!loaded) return std::unexpected(loaded.error());
  config::Config wanted = running();
  if (only) {
    for (const std::string& name : *only) {
      auto it = loaded->pools.find(name);
      if (it != loaded->pools.end()) {
        wanted.pools.insert_or_assign(name, it->second);
      } else if (wanted.pools.erase(name) == 0) {
        return std::unexpected(Error(ErrorCode::kInvalidArgument, "no pool named '" + name + "' in " +
                                                                      config_path_.string() + " or running"));
      }
    }
  } else {
    wanted = *loaded;
  }
  const ReloadSummary summary = Summarize(config::Diff(running(), wanted));
  if (Status s = supervisor_->Apply(wanted); !s) return std::unexpected(s.error());
  std::lock_guard lock(mu_);
  running_ = std::move(wanted);
  for (const std::string& name : summary.removed) stopped_.erase(name);
  return summary;
}

Status Controller::Scale(const std::string& pool, std::uint32_t workers) {
  std::lock_guard reload(reload_mu_);
  if (Status s = supervisor_->Resize(pool, workers); !s) return s;
  std::lock_guard lock(mu_);
  if (auto it = running_.pools.find(pool); it != running_.pools.end()) {
    it->second.workers = workers;  // as Resize() counts them: spare_workers come on top
  }
  return {};
}

void Controller::MarkStopped(const std::string& pool, bool stopped) {
  std::lock_guard lock(mu_);
  if (stopped) {
    stopped_.insert(pool);
  } else {
    stopped_.erase(pool);
  }
}

bool Controller::OperatorStopped(const std::string& pool) const {
  std::lock_guard lock(mu_);
  return stopped_.contains(pool);
}

}  // namespace sv::daemon
