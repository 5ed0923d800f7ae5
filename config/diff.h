// What changed between two loaded configs, and what applying each change takes:
// a reload keeps unchanged pools running, resizes pools whose size alone changed,
// and restarts workers only for changes a running worker cannot pick up.
// Pure; used by the trusted process.
#pragma once

#include <string>
#include <vector>

#include "config/schema.h"

namespace sv::config {

// One pool present in both configs, with different settings.
struct PoolChange {
  std::string name;
  // The keys that changed, in schema order, nested ones dotted ("restart.period").
  std::vector<std::string> keys;
  // A changed key is fixed when a worker starts (plugin, plugin_config, limits,
  // channel, env): the pool's workers must be replaced to apply it.
  bool restart_workers = false;
  // Only `workers` and/or `spare_workers` changed: resize in place.
  bool resize_only = false;

  bool operator==(const PoolChange&) const = default;
};

struct ConfigDiff {
  std::vector<std::string> added;    // pool names, sorted
  std::vector<std::string> removed;  // pool names, sorted
  std::vector<PoolChange> changed;   // sorted by name
  // Changed keys of the `supervisor:` section, in schema order.
  std::vector<std::string> supervisor_keys;
  bool supervisor_changed = false;

  // Nothing to apply.
  bool empty() const { return added.empty() && removed.empty() && changed.empty() && !supervisor_changed; }
  bool operator==(const ConfigDiff&) const = default;
};

// Compares every setting exactly; source positions and the file name do not count.
ConfigDiff Diff(const Config& old_config, const Config& new_config);

}  // namespace sv::config
