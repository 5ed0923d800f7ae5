// The daemon's state: the running config, the supervisor running it, and the
// reload path (reread + apply the diff) that SIGHUP, `reread` and `update` share.
// Thread-safe: HTTP threads and the signal loop call it. Used by the daemon.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "config/diff.h"
#include "config/schema.h"
#include "supervisor/supervisor.h"

namespace sv::daemon {

// What a reload would do, or did, in pool names.
struct ReloadSummary {
  std::vector<std::string> added, removed, changed, resized;
  std::vector<std::string> supervisor_keys;  // changed daemon settings (some need a daemon restart)
};

class Controller {
 public:
  // Starts the supervisor on `config` (loaded from `config_path`). Errors as
  // supervisor::Supervisor::Create.
  [[nodiscard]] static std::expected<std::unique_ptr<Controller>, Error> Create(
      std::filesystem::path config_path, config::Config config, supervisor::SupervisorOptions options);

  supervisor::Supervisor& supervisor() { return *supervisor_; }
  const std::filesystem::path& config_path() const { return config_path_; }
  std::chrono::steady_clock::time_point started() const { return started_; }
  config::Config running() const;

  // Loads the file and compares it with the running config; plugins of added
  // or changed pools are probed. kBadConfig with every problem when it is wrong.
  [[nodiscard]] std::expected<ReloadSummary, Error> Reread() const;
  // Reread, then applies the changes (only to `only` pools when given: the
  // others keep their running settings). Returns what was done.
  [[nodiscard]] std::expected<ReloadSummary, Error> Update(const std::optional<std::set<std::string>>& only);

  // Resizes `pool` and records the new size as running (so `reread` shows a
  // file that says otherwise as a resize).
  [[nodiscard]] Status Scale(const std::string& pool, std::uint32_t workers);

  // Pools an operator stopped on purpose: /readyz does not wait for them.
  void MarkStopped(const std::string& pool, bool stopped);
  bool OperatorStopped(const std::string& pool) const;

 private:
  Controller() = default;
  [[nodiscard]] std::expected<config::Config, Error> Load() const;

  std::filesystem::path config_path_;
  std::string worker_path_;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<supervisor::Supervisor> supervisor_;
  mutable std::mutex mu_;       // guards running_ and stopped_
  std::mutex reload_mu_;        // one update at a time
  config::Config running_;
  std::set<std::string> stopped_;
};

// The summary of `diff` (pure).
ReloadSummary Summarize(const config::ConfigDiff& diff);

}  // namespace sv::daemon
