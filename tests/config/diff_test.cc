// config/diff.h: added, removed, resized, live-changed and restart-needing
// pools, supervisor changes, and what does not count as a change.
#include "config/diff.h"

#include <gtest/gtest.h>

namespace sv::config {
namespace {

using namespace std::chrono_literals;
using Keys = std::vector<std::string>;

PoolConfig Pool(std::string name) {
  PoolConfig pool;
  pool.name = name;
  pool.plugin = "/p/lib" + name + ".so";
  pool.plugin_position = {3, 13};
  return pool;
}

Config WithPools(std::initializer_list<PoolConfig> pools) {
  Config config;
  config.path = "pools.yaml";
  config.supervisor.control_socket = "/run/sv.sock";
  for (const PoolConfig& pool : pools) config.pools.emplace(pool.name, pool);
  return config;
}

// The one change between a config with Pool("a") and one with `changed`.
PoolChange ChangeTo(const PoolConfig& changed) {
  ConfigDiff diff = Diff(WithPools({Pool("a")}), WithPools({changed}));
  EXPECT_TRUE(diff.added.empty() && diff.removed.empty() && !diff.supervisor_changed);
  EXPECT_EQ(diff.changed.size(), 1u);
  return diff.changed.empty() ? PoolChange{} : diff.changed[0];
}

TEST(DiffTest, SameConfigIsEmpty) {
  const Config config = WithPools({Pool("a"), Pool("b")});
  ConfigDiff diff = Diff(config, config);
  EXPECT_TRUE(diff.empty());
  EXPECT_EQ(diff, ConfigDiff{});
}

TEST(DiffTest, MovedLinesAndAnotherFileNameAreNoChange) {
  PoolConfig moved = Pool("a");
  moved.plugin_position = {30, 5};
  Config other = WithPools({moved});
  other.path = "/etc/sv/pools.yaml";
  EXPECT_TRUE(Diff(WithPools({Pool("a")}), other).empty());
}

TEST(DiffTest, ListsAddedAndRemovedPoolsSorted) {
  ConfigDiff diff = Diff(WithPools({Pool("a"), Pool("c"), Pool("d")}), WithPools({Pool("a"), Pool("e"), Pool("b")}));
  EXPECT_EQ(diff.added, (Keys{"b", "e"}));
  EXPECT_EQ(diff.removed, (Keys{"c", "d"}));
  EXPECT_TRUE(diff.changed.empty());
  EXPECT_FALSE(diff.empty());
}

TEST(DiffTest, SizeOnlyChangeResizesWithoutRestart) {
  PoolConfig bigger = Pool("a");
  bigger.workers = 4;
  bigger.spare_workers = 1;
  PoolChange change = ChangeTo(bigger);
  EXPECT_EQ(change.name, "a");
  EXPECT_EQ(change.keys, (Keys{"workers", "spare_workers"}));
  EXPECT_TRUE(change.resize_only);
  EXPECT_FALSE(change.restart_workers);
}

TEST(DiffTest, SupervisorSideSettingsApplyLive) {
  PoolConfig p = Pool("a");
  p.call_timeout = 1s;
  p.max_queue = 3;
  p.autostart = false;
  p.stop_timeout = 0s;
  p.restart.intensity = 1;
  p.recycle.after_calls = 100;
  p.recycle.max_rss = 1 << 30;
  PoolChange change = ChangeTo(p);
  EXPECT_EQ(change.keys, (Keys{"autostart", "call_timeout", "max_queue", "stop_timeout", "restart.intensity",
                               "recycle.after_calls", "recycle.max_rss"}));
  EXPECT_FALSE(change.restart_workers);
  EXPECT_FALSE(change.resize_only);
}

TEST(DiffTest, WorkerStartSettingsNeedARestart) {
  auto restarts = [](void (*edit)(PoolConfig&), const Keys& keys) {
    PoolConfig p = Pool("a");
    edit(p);
    PoolChange change = ChangeTo(p);
    EXPECT_EQ(change.keys, keys);
    EXPECT_TRUE(change.restart_workers) << keys[0];
    EXPECT_FALSE(change.resize_only) << keys[0];
  };
  restarts([](PoolConfig& p) { p.plugin = "/p/other.so"; }, {"plugin"});
  restarts([](PoolConfig& p) { p.plugin_config = {{"level", "9"}}; }, {"plugin_config"});
  restarts([](PoolConfig& p) { p.limits.address_space = 1 << 30; }, {"limits.address_space"});
  restarts([](PoolConfig& p) { p.limits.cpu_time = std::chrono::seconds(5); }, {"limits.cpu_time"});
  restarts([](PoolConfig& p) { p.limits.open_files = 64; }, {"limits.open_files"});
  restarts([](PoolConfig& p) { p.channel.request = 8 << 10; }, {"channel.request"});
  restarts([](PoolConfig& p) { p.channel.response = 8 << 10; }, {"channel.response"});
  restarts([](PoolConfig& p) { p.channel.spin = {SpinSetting::Mode::kOff, 0s}; }, {"channel.spin"});
  restarts([](PoolConfig& p) { p.env["TZ"] = "UTC"; }, {"env"});
}

TEST(DiffTest, PluginConfigOrderCounts) {
  PoolConfig before = Pool("a");
  before.plugin_config = {{"x", "1"}, {"y", "2"}};
  PoolConfig after = Pool("a");
  after.plugin_config = {{"y", "2"}, {"x", "1"}};
  ConfigDiff diff = Diff(WithPools({before}), WithPools({after}));
  ASSERT_EQ(diff.changed.size(), 1u);
  EXPECT_EQ(diff.changed[0].keys, Keys{"plugin_config"});
}

TEST(DiffTest, ResizeWithARestartingChangeIsNotResizeOnly) {
  PoolConfig p = Pool("a");
  p.workers = 3;
  p.env["A"] = "b";
  PoolChange change = ChangeTo(p);
  EXPECT_EQ(change.keys, (Keys{"workers", "env"}));
  EXPECT_TRUE(change.restart_workers);
  EXPECT_FALSE(change.resize_only);
}

TEST(DiffTest, ReportsSupervisorChangesSeparately) {
  Config before = WithPools({Pool("a")});
  Config after = before;
  after.supervisor.log_level = LogLevel::kDebug;
  after.supervisor.metrics_listen = ListenAddress{"127.0.0.1", 9100};
  ConfigDiff diff = Diff(before, after);
  EXPECT_TRUE(diff.supervisor_changed);
  EXPECT_EQ(diff.supervisor_keys, (Keys{"log_level", "metrics_listen"}));
  EXPECT_TRUE(diff.changed.empty());
  EXPECT_FALSE(diff.empty());
}

}  // namespace
}  // namespace sv::config
