// Diff: key tables saying how each setting is compared and what changing it takes.
#include "config/diff.h"

#include <string_view>

#include "base/error.h"

namespace sv::config {
namespace {

// What applying a changed key takes.
enum class Effect : std::uint8_t {
  kResize,   // start or stop workers, nothing else
  kLive,     // the supervisor applies it to running workers (timeouts, policies)
  kRestart,  // fixed when a worker starts: replace the workers
};

template <class T>
struct Key {
  std::string_view name;
  bool (*same)(const T&, const T&);
  Effect effect = Effect::kLive;
};

template <auto Member, class T>
bool Same(const T& a, const T& b) {
  return a.*Member == b.*Member;
}

template <auto Outer, auto Inner>
bool SameIn(const PoolConfig& a, const PoolConfig& b) {
  return (a.*Outer).*Inner == (b.*Outer).*Inner;
}

using P = PoolConfig;
using E = Effect;

// Every PoolConfig setting (name and plugin_position are not settings).
constexpr Key<PoolConfig> kPoolKeys[] = {
    {"plugin", Same<&P::plugin, P>, E::kRestart},
    {"plugin_config", Same<&P::plugin_config, P>, E::kRestart},
    {"workers", Same<&P::workers, P>, E::kResize},
    {"spare_workers", Same<&P::spare_workers, P>, E::kResize},
    {"autostart", Same<&P::autostart, P>},
    {"call_timeout", Same<&P::call_timeout, P>},
    {"max_queue", Same<&P::max_queue, P>},
    {"start_timeout", Same<&P::start_timeout, P>},
    {"stop_timeout", Same<&P::stop_timeout, P>},
    {"restart.backoff_initial", SameIn<&P::restart, &RestartPolicy::backoff_initial>},
    {"restart.backoff_max", SameIn<&P::restart, &RestartPolicy::backoff_max>},
    {"restart.healthy_after", SameIn<&P::restart, &RestartPolicy::healthy_after>},
    {"restart.intensity", SameIn<&P::restart, &RestartPolicy::intensity>},
    {"restart.period", SameIn<&P::restart, &RestartPolicy::period>},
    {"recycle.after_calls", SameIn<&P::recycle, &RecyclePolicy::after_calls>},
    {"recycle.jitter", SameIn<&P::recycle, &RecyclePolicy::jitter_percent>},
    {"recycle.max_rss", SameIn<&P::recycle, &RecyclePolicy::max_rss>},
    {"limits.address_space", SameIn<&P::limits, &ResourceLimits::address_space>, E::kRestart},
    {"limits.cpu_time", SameIn<&P::limits, &ResourceLimits::cpu_time>, E::kRestart},
    {"limits.open_files", SameIn<&P::limits, &ResourceLimits::open_files>, E::kRestart},
    {"channel.request", SameIn<&P::channel, &ChannelSettings::request>, E::kRestart},
    {"channel.response", SameIn<&P::channel, &ChannelSettings::response>, E::kRestart},
    {"channel.spin", SameIn<&P::channel, &ChannelSettings::spin>, E::kRestart},
    {"env", Same<&P::env, P>, E::kRestart},
};

using S = SupervisorSettings;
constexpr Key<SupervisorSettings> kSupervisorKeys[] = {
    {"control_socket", Same<&S::control_socket, S>}, {"socket_mode", Same<&S::socket_mode, S>},
    {"socket_group", Same<&S::socket_group, S>},     {"log_file", Same<&S::log_file, S>},
    {"log_level", Same<&S::log_level, S>},           {"metrics_listen", Same<&S::metrics_listen, S>},
};

// The keys whose values differ, in table order.
template <class T, std::size_t N>
std::vector<std::string> ChangedKeys(const Key<T> (&keys)[N], const T& a, const T& b) {
  std::vector<std::string> out;
  for (const Key<T>& key : keys) {
    if (!key.same(a, b)) out.emplace_back(key.name);
  }
  return out;
}

Effect EffectOf(std::string_view name) {
  for (const Key<PoolConfig>& key : kPoolKeys) {
    if (key.name == name) return key.effect;
  }
  SV_CHECK(false);  // names come from kPoolKeys
  return Effect::kRestart;
}

// nullopt when the pools are the same setting for setting.
std::optional<PoolChange> ComparePools(const PoolConfig& a, const PoolConfig& b) {
  PoolChange change{a.name, ChangedKeys(kPoolKeys, a, b)};
  if (change.keys.empty()) {
    PoolConfig b_here = b;  // a field missing from kPoolKeys would show here
    b_here.plugin_position = a.plugin_position;
    b_here.name = a.name;
    SV_CHECK(a == b_here);
    return std::nullopt;
  }
  change.resize_only = true;
  for (const std::string& key : change.keys) {
    const Effect effect = EffectOf(key);
    change.restart_workers |= effect == Effect::kRestart;
    change.resize_only &= effect == Effect::kResize;
  }
  return change;
}

}  // namespace

ConfigDiff Diff(const Config& old_config, const Config& new_config) {
  ConfigDiff diff;
  for (const auto& [name, old_pool] : old_config.pools) {
    auto it = new_config.pools.find(name);
    if (it == new_config.pools.end()) {
      diff.removed.push_back(name);
    } else if (auto change = ComparePools(old_pool, it->second)) {
      diff.changed.push_back(std::move(*change));
    }
  }
  for (const auto& [name, pool] : new_config.pools) {
    if (!old_config.pools.contains(name)) diff.added.push_back(name);
  }
  diff.supervisor_keys = ChangedKeys(kSupervisorKeys, old_config.supervisor, new_config.supervisor);
  diff.supervisor_changed = !diff.supervisor_keys.empty();
  SV_CHECK(diff.supervisor_changed || old_config.supervisor == new_config.supervisor);
  return diff;
}

}  // namespace sv::config
