// Checking a pool's plugin before anything starts: it is loaded the way its
// workers will load it, in a real sv-worker. Runs in the trusted process.
#pragma once

#include <optional>
#include <string>

#include "config/load.h"
#include "supervisor/spawn.h"

namespace sv::supervisor {

// Where sv-worker is: $SV_WORKER, else next to this executable (or in
// ../worker/ or ../../worker/ from it, as in a build tree), else "sv-worker".
std::string DefaultWorkerPath();

// The channel's spin options for a pool's `channel.spin` setting.
ipc::SpinOptions SpinOptionsFor(const config::SpinSetting& spin);

// The start request every worker of `pool` shares (plugin, pool name, plugin
// config, limits, spin, environment); the caller adds the per-worker parts.
SpawnRequest RequestFor(const config::PoolConfig& pool, const std::string& worker_path);

// Starts `worker_path --zygote` for the pool, which isolates itself, applies
// the pool's limits, dlopens the plugin and checks its ABI (but runs no init),
// then lets it go. nullopt when the plugin loads; else why not ("plugin
// /x/libfoo.so: built for plugin ABI 7, this sv-worker speaks 1"). Blocks up to
// the pool's start_timeout. The probe process dies with the calling thread.
std::optional<std::string> ProbePlugin(const config::PoolConfig& pool, const std::string& worker_path);

// ProbePlugin as a config::PluginProbe, for config::Validate.
config::PluginProbe PluginProbeFor(std::string worker_path);

}  // namespace sv::supervisor
