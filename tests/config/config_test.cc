// config/load.h: defaults, every key, path resolution, the exact
// file:line:column message for each kind of bad input, several problems at
// once, plugin checks against real files in a temporary folder, and
// examples/pools.yaml.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "config/load.h"

namespace sv::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/sv-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr) << errno;
    dir_ = dir;
    Write("libx.so", "");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Creates dir_/name (and its folders) holding `text`.
  void Write(const fs::path& name, std::string_view text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
  }

  std::expected<Config, ConfigError> Load(std::string_view yaml) { return LoadString(yaml, "pools.yaml", dir_); }

  // The config `yaml` loads to; a failure of the test otherwise.
  Config Ok(std::string_view yaml) {
    auto config = Load(yaml);
    EXPECT_TRUE(config) << config.error().ToString();
    return config ? *config : Config{};
  }

  // The problems `yaml` has, one per line.
  std::string Problems(std::string_view yaml) {
    auto config = Load(yaml);
    return config ? "(loaded)" : config.error().ToString();
  }

  // One pool "a" using libx.so with `keys` (indented by 4) added.
  std::string Problems1(std::string_view keys) {
    return Problems("pools:\n  a:\n    plugin: libx.so\n" + std::string(keys));
  }

  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsFillEveryOmittedKey) {
  Config c = Ok("pools:\n  a:\n    plugin: libx.so\n");
  EXPECT_EQ(c.path, "pools.yaml");
  EXPECT_EQ(c.supervisor.control_socket, dir_ / "run/supervisor.sock");
  EXPECT_EQ(c.supervisor.socket_mode, 0600u);
  EXPECT_EQ(c.supervisor.socket_group, std::nullopt);
  EXPECT_EQ(c.supervisor.log_file, std::nullopt);
  EXPECT_EQ(c.supervisor.log_level, LogLevel::kInformation);
  EXPECT_EQ(c.supervisor.metrics_listen, std::nullopt);
  ASSERT_EQ(c.pools.size(), 1u);
  const PoolConfig& p = c.pools.at("a");
  EXPECT_EQ(p.name, "a");
  EXPECT_EQ(p.plugin, dir_ / "libx.so");
  EXPECT_EQ(p.plugin_position, (SourcePosition{3, 13}));
  PoolConfig expected;  // the struct's defaults are the documented ones
  expected.name = "a";
  expected.plugin = p.plugin;
  expected.plugin_position = p.plugin_position;
  EXPECT_EQ(p, expected);
  EXPECT_TRUE(p.plugin_config.empty());
  EXPECT_EQ(p.workers, 1u);
  EXPECT_EQ(p.spare_workers, 0u);
  EXPECT_TRUE(p.autostart);
  EXPECT_EQ(p.call_timeout, 30s);
  EXPECT_EQ(p.max_queue, 64u);
  EXPECT_EQ(p.start_timeout, 5s);
  EXPECT_EQ(p.stop_timeout, 2s);
  EXPECT_EQ(p.restart, (RestartPolicy{100ms, 30s, 10s, 10, 60s}));
  EXPECT_EQ(p.recycle, (RecyclePolicy{0, 10, std::nullopt}));
  EXPECT_EQ(p.limits, ResourceLimits{});
  EXPECT_EQ(p.channel.request, 1u << 20);
  EXPECT_EQ(p.channel.response, 4u << 20);
  EXPECT_EQ(p.channel.spin.mode, SpinSetting::Mode::kAuto);
  EXPECT_TRUE(p.env.empty());
}

TEST_F(ConfigTest, ReadsEveryKey) {
  Config c = Ok(R"(supervisor:
  control_socket: /run/sv/control.sock
  socket_mode: "0660"
  socket_group: svadmin
  log_file: logs/sv.log
  log_level: debug
  metrics_listen: 127.0.0.1:9100
pools:
  sqlite:
    plugin: ./libx.so
    plugin_config: {page_cache: 2MiB, journal: wal, level: 9, fast: true}
    workers: 2
    spare_workers: 1
    autostart: false
    call_timeout: 500ms
    max_queue: 0
    start_timeout: 2s
    stop_timeout: 0
    restart: {backoff_initial: 10ms, backoff_max: 5s, healthy_after: 0, intensity: 3, period: 1m}
    recycle: {after_calls: 10000, jitter: 5%, max_rss: 512MiB}
    limits: {address_space: 1GiB, cpu_time: 1m, open_files: 256}
    channel: {request: 64KiB, response: 2MiB, spin: 20us}
    env: {LC_ALL: C, TZ: UTC}
)");
  const SupervisorSettings& s = c.supervisor;
  EXPECT_EQ(s.control_socket, "/run/sv/control.sock");
  EXPECT_EQ(s.socket_mode, 0660u);
  EXPECT_EQ(s.socket_group, "svadmin");
  EXPECT_EQ(s.log_file, dir_ / "logs/sv.log");
  EXPECT_EQ(s.log_level, LogLevel::kDebug);
  EXPECT_EQ(s.metrics_listen, (ListenAddress{"127.0.0.1", 9100}));
  const PoolConfig& p = c.pools.at("sqlite");
  EXPECT_EQ(p.plugin, dir_ / "libx.so");
  EXPECT_EQ(p.plugin_position, (SourcePosition{10, 13}));
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(p.plugin_config, (Pairs{{"page_cache", "2MiB"}, {"journal", "wal"}, {"level", "9"}, {"fast", "true"}}));
  EXPECT_EQ(p.workers, 2u);
  EXPECT_EQ(p.spare_workers, 1u);
  EXPECT_FALSE(p.autostart);
  EXPECT_EQ(p.call_timeout, 500ms);
  EXPECT_EQ(p.max_queue, 0u);
  EXPECT_EQ(p.start_timeout, 2s);
  EXPECT_EQ(p.stop_timeout, 0s);
  EXPECT_EQ(p.restart, (RestartPolicy{10ms, 5s, 0s, 3, 60s}));
  EXPECT_EQ(p.recycle, (RecyclePolicy{10000, 5, 512u << 20}));
  EXPECT_EQ(p.limits, (ResourceLimits{1u << 30, std::chrono::seconds(60), 256}));
  EXPECT_EQ(p.channel, (ChannelSettings{64u << 10, 2u << 20, {SpinSetting::Mode::kFixed, 20us}}));
  EXPECT_EQ(p.env, (std::map<std::string, std::string>{{"LC_ALL", "C"}, {"TZ", "UTC"}}));
}

TEST_F(ConfigTest, SpinReadsAutoOffAndZeroAsOff) {
  auto spin = [&](std::string_view value) {
    return Ok("pools:\n  a:\n    plugin: libx.so\n    channel: {spin: " + std::string(value) + "}\n")
        .pools["a"]
        .channel.spin;
  };
  EXPECT_EQ(spin("auto"), (SpinSetting{SpinSetting::Mode::kAuto, 0s}));
  EXPECT_EQ(spin("off"), (SpinSetting{SpinSetting::Mode::kOff, 0s}));
  EXPECT_EQ(spin("0"), (SpinSetting{SpinSetting::Mode::kOff, 0s}));
  EXPECT_EQ(spin("10ms"), (SpinSetting{SpinSetting::Mode::kFixed, 10ms}));
}

TEST_F(ConfigTest, EmptyPoolsAreAllowed) {
  EXPECT_TRUE(Ok("pools: {}\n").pools.empty());
  EXPECT_TRUE(Ok("pools:\n").pools.empty());
  EXPECT_TRUE(Ok("supervisor:\npools:\n").pools.empty());
}

TEST_F(ConfigTest, MergeKeysShareSettingsAndOwnKeysWin) {
  Config c = Ok(R"(pools:
  a: &defaults
    plugin: libx.so
    workers: 3
    restart: &restart {intensity: 2, period: 10s}
  b:
    <<: *defaults
    workers: 5
    restart: {<<: *restart, intensity: 4}
)");
  const PoolConfig& b = c.pools.at("b");
  EXPECT_EQ(b.plugin, dir_ / "libx.so");
  EXPECT_EQ(b.workers, 5u);
  EXPECT_EQ(b.restart.intensity, 4u);
  EXPECT_EQ(b.restart.period, 10s);
}

TEST_F(ConfigTest, MergeKeysTakeOnlyMapsOrListsOfMaps) {
  EXPECT_EQ(Problems("pools:\n  a:\n    plugin: libx.so\n    <<: 3\n"),
            "pools.yaml:4:9: pools.a: expected a map or a list of maps to merge, got a scalar");
  EXPECT_EQ(Problems("pools:\n  a:\n    plugin: libx.so\n    <<: &x [*x]\n"),
            "pools.yaml:4:9: pools.a: expected a map or a list of maps to merge, got a list");
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheFilesFolder) {
  Write("conf/plugins/liby.so", "");
  Write("conf/pools.yaml", R"(supervisor:
  control_socket: ./run/../sv.sock
  log_file: ../logs/sv.log
pools:
  a:
    plugin: plugins/liby.so
  b:
    plugin: ../conf/./plugins//liby.so
  c:
    plugin: )" + (dir_ / "libx.so").native() +
                               "\n");
  const fs::path cwd = fs::current_path();
  fs::current_path("/");  // the file's folder counts, not the working directory
  auto c = LoadFile(dir_ / "conf/pools.yaml");
  fs::current_path(cwd);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->supervisor.control_socket, dir_ / "conf/sv.sock");
  EXPECT_EQ(c->supervisor.log_file, dir_ / "logs/sv.log");
  EXPECT_EQ(c->pools.at("a").plugin, dir_ / "conf/plugins/liby.so");
  EXPECT_EQ(c->pools.at("b").plugin, dir_ / "conf/plugins/liby.so");
  EXPECT_EQ(c->pools.at("c").plugin, dir_ / "libx.so");
}

TEST_F(ConfigTest, RelativeFileNameResolvesToAbsolutePathsAndNamesTheFileAsGiven) {
  Write("pools.yaml", "pools:\n  a:\n    plugin: libx.so\n");
  Write("bad.yaml", "pools:\n  a:\n    plugin: libx.so\n    workers: 0\n");
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  auto good = LoadFile("pools.yaml");
  auto bad = LoadFile("./bad.yaml");
  fs::current_path(cwd);
  ASSERT_TRUE(good) << good.error().ToString();
  EXPECT_EQ(good->path, "pools.yaml");
  EXPECT_EQ(good->pools.at("a").plugin, dir_ / "libx.so");
  EXPECT_EQ(good->supervisor.control_socket, dir_ / "run/supervisor.sock");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().ToString(), "./bad.yaml:4:5: pools.a.workers: expected a positive integer, got \"0\"");
}

TEST_F(ConfigTest, MissingFileIsOneProblemWithErrno) {
  auto c = LoadFile(dir_ / "nothere.yaml");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().ToString(), (dir_ / "nothere.yaml").native() + ": cannot read: No such file or directory");
  EXPECT_EQ(c.error().sys_errno, ENOENT);
  const Error e = c.error().ToError();
  EXPECT_EQ(e.code(), ErrorCode::kBadConfig);
  EXPECT_EQ(e.ToString(), (dir_ / "nothere.yaml").native() + ": cannot read: No such file or directory (errno 2)");
}

TEST_F(ConfigTest, FolderIsNotAConfigFile) {
  auto c = LoadFile(dir_);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().ToString(), dir_.native() + ": cannot read: Is a directory");
}

TEST_F(ConfigTest, TooLargeFileIsRefused) {
  Write("big.yaml", "pools: {}\n" + std::string(17 << 20, '#'));
  auto c = LoadFile(dir_ / "big.yaml");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().ToString(), (dir_ / "big.yaml").native() + ": cannot read: File too large");
}

TEST_F(ConfigTest, ProblemsConvertToBadConfigError) {
  auto c = Load("pools:\n  a:\n    plugin: libx.so\n    workers: two\n");
  ASSERT_FALSE(c);
  const Error e = c.error().ToError();
  EXPECT_EQ(e.code(), ErrorCode::kBadConfig);
  EXPECT_EQ(e.sys_errno(), 0);
  EXPECT_EQ(e.ToString(), "pools.yaml:4:5: pools.a.workers: expected a positive integer, got \"two\"");
  EXPECT_EQ(ErrorCodeName(e.code()), "BadConfig");
}

TEST_F(ConfigTest, YamlSyntaxErrorHasPosition) {
  EXPECT_EQ(Problems("pools:\n  a: [1,\n"), "pools.yaml:3:1: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(Problems("pools:\n  a: 1\n b: 2\n"), "pools.yaml:3:2: invalid YAML: end of map not found");
  EXPECT_EQ(Problems("pools:\n  a: &x {}\n  b: *y\n"),
            "pools.yaml:3:6: invalid YAML: the referenced anchor is not defined");
}

TEST_F(ConfigTest, OneDocumentOnly) {
  EXPECT_EQ(Problems("pools: {}\n---\npools: {}\n"), "pools.yaml:3:1: expected one YAML document, found 2");
}

TEST_F(ConfigTest, PoolsKeyIsRequiredSoAnEmptyFileIsAnError) {
  EXPECT_EQ(Problems(""), "pools.yaml: missing required key \"pools\" (write \"pools: {}\" for none)");
  EXPECT_EQ(Problems("# nothing yet\n"), "pools.yaml: missing required key \"pools\" (write \"pools: {}\" for none)");
  EXPECT_EQ(Problems("supervisor: {}\n"),
            "pools.yaml:1:1: missing required key \"pools\" (write \"pools: {}\" for none)");
}

TEST_F(ConfigTest, DocumentMustBeAMap) {
  EXPECT_EQ(Problems("- a\n- b\n"), "pools.yaml:1:1: expected a map, got a list");
  EXPECT_EQ(Problems("pools\n"), "pools.yaml:1:1: expected a map, got a scalar");
}

TEST_F(ConfigTest, WrongTypesNameWhatWasExpected) {
  EXPECT_EQ(Problems("pools: [a, b]\n"), "pools.yaml:1:1: pools: expected a map, got a list");
  EXPECT_EQ(Problems("supervisor: debug\npools: {}\n"), "pools.yaml:1:1: supervisor: expected a map, got a scalar");
  EXPECT_EQ(Problems("pools:\n  a: libx.so\n"), "pools.yaml:2:3: pools.a: expected a map, got a scalar");
  EXPECT_EQ(Problems1("    workers: [1]\n"),
            "pools.yaml:4:5: pools.a.workers: expected a positive integer, got a list");
  EXPECT_EQ(Problems1("    workers:\n"),
            "pools.yaml:4:5: pools.a.workers: expected a positive integer, got an empty value");
  EXPECT_EQ(Problems1("    call_timeout: {s: 1}\n"),
            "pools.yaml:4:5: pools.a.call_timeout: expected a duration, got a map");
  EXPECT_EQ(Problems1("    restart: [1]\n"), "pools.yaml:4:5: pools.a.restart: expected a map, got a list");
  EXPECT_EQ(Problems1("    env: [LC_ALL=C]\n"), "pools.yaml:4:5: pools.a.env: expected a map, got a list");
  EXPECT_EQ(Problems1("    env: {A: [1]}\n"), "pools.yaml:4:11: pools.a.env.A: expected a scalar value, got a list");
  EXPECT_EQ(Problems1("    plugin_config: {level: {x: 1}}\n"),
            "pools.yaml:4:21: pools.a.plugin_config.level: expected a scalar value, got a map");
  EXPECT_EQ(Problems1("    plugin_config: {level: }\n"),
            "pools.yaml:4:21: pools.a.plugin_config.level: expected a scalar value, got an empty value");
  EXPECT_EQ(Problems("pools:\n  a:\n    plugin: [libx.so]\n"),
            "pools.yaml:3:5: pools.a.plugin: expected a path, got a list");
  EXPECT_EQ(Problems("pools:\n  ? [a, b]\n  : {plugin: libx.so}\n"),
            "pools.yaml:2:5: pools: expected a string key, got a list");
}

TEST_F(ConfigTest, UnknownKeysSuggestTheClosestKnownOne) {
  EXPECT_EQ(Problems1("    call_timout: 5s\n"),
            "pools.yaml:4:5: pools.a.call_timout: unknown key (did you mean \"call_timeout\"?)");
  EXPECT_EQ(Problems1("    Workers: 2\n"), "pools.yaml:4:5: pools.a.Workers: unknown key (did you mean \"workers\"?)");
  EXPECT_EQ(Problems1("    restart: {backof_max: 1s}\n"),
            "pools.yaml:4:15: pools.a.restart.backof_max: unknown key (did you mean \"backoff_max\"?)");
  EXPECT_EQ(Problems1("    colour: red\n"), "pools.yaml:4:5: pools.a.colour: unknown key");
  EXPECT_EQ(Problems("pool: {}\n"),
            "pools.yaml:1:1: pool: unknown key (did you mean \"pools\"?)\n"
            "pools.yaml:1:1: missing required key \"pools\" (write \"pools: {}\" for none)");
  EXPECT_EQ(Problems("supervisor: {log_levl: debug}\npools: {}\n"),
            "pools.yaml:1:14: supervisor.log_levl: unknown key (did you mean \"log_level\"?)");
}

TEST_F(ConfigTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(Problems1("    workers: 2\n    workers: 3\n"),
            "pools.yaml:5:5: pools.a.workers: duplicate key (first at 4:5)");
  EXPECT_EQ(Problems("pools:\n  a: {plugin: libx.so}\n  a: {plugin: libx.so}\n"),
            "pools.yaml:3:3: pools.a: duplicate key (first at 2:3)");
}

TEST_F(ConfigTest, MissingPluginKeyIsAnError) {
  EXPECT_EQ(Problems("pools:\n  a:\n    workers: 2\n"), "pools.yaml:2:3: pools.a: missing required key \"plugin\"");
  EXPECT_EQ(Problems("pools:\n  a:\n"), "pools.yaml:2:3: pools.a: missing required key \"plugin\"");
}

TEST_F(ConfigTest, BadIntegersNameTheRange) {
  EXPECT_EQ(Problems1("    workers: two\n"),
            "pools.yaml:4:5: pools.a.workers: expected a positive integer, got \"two\"");
  EXPECT_EQ(Problems1("    workers: 0\n"), "pools.yaml:4:5: pools.a.workers: expected a positive integer, got \"0\"");
  EXPECT_EQ(Problems1("    workers: -1\n"), "pools.yaml:4:5: pools.a.workers: expected a positive integer, got \"-1\"");
  EXPECT_EQ(Problems1("    workers: 2.5\n"),
            "pools.yaml:4:5: pools.a.workers: expected a positive integer, got \"2.5\"");
  EXPECT_EQ(Problems1("    workers: 10001\n"),
            "pools.yaml:4:5: pools.a.workers: expected at most 10000, got \"10001\"");
  EXPECT_EQ(Problems1("    workers: 99999999999999999999999\n"),
            "pools.yaml:4:5: pools.a.workers: expected at most 10000, got \"99999999999999999999999\"");
  EXPECT_EQ(Problems1("    max_queue: -5\n"),
            "pools.yaml:4:5: pools.a.max_queue: expected a non-negative integer, got \"-5\"");
  EXPECT_EQ(Problems1("    spare_workers: -1\n"),
            "pools.yaml:4:5: pools.a.spare_workers: expected a non-negative integer, got \"-1\"");
  EXPECT_EQ(Problems1("    limits: {open_files: 0}\n"),
            "pools.yaml:4:14: pools.a.limits.open_files: expected a positive integer, got \"0\"");
  EXPECT_EQ(Problems1("    recycle: {after_calls: 18446744073709551616}\n"),
            "pools.yaml:4:15: pools.a.recycle.after_calls: expected at most 18446744073709551615, got "
            "\"18446744073709551616\"");
}

TEST_F(ConfigTest, WorkersAndSparesTogetherHaveALimit) {
  EXPECT_EQ(Problems1("    workers: 6000\n    spare_workers: 5000\n"),
            "pools.yaml:2:3: pools.a: workers + spare_workers is 11000, at most 10000");
}

TEST_F(ConfigTest, BadDurationsNameTheForm) {
  EXPECT_EQ(Problems1("    call_timeout: 500\n"),
            "pools.yaml:4:5: pools.a.call_timeout: expected a duration with a unit (ns, us, ms, s, m, h), such as "
            "\"500ms\", got \"500\"");
  EXPECT_EQ(Problems1("    call_timeout: 0\n"),
            "pools.yaml:4:5: pools.a.call_timeout: expected a positive duration, got \"0\"");
  EXPECT_EQ(Problems1("    start_timeout: -2s\n"),
            "pools.yaml:4:5: pools.a.start_timeout: expected a non-negative duration, got \"-2s\"");
  EXPECT_EQ(Problems1("    stop_timeout: 2562048h\n"),
            "pools.yaml:4:5: pools.a.stop_timeout: expected a duration of at most 2562047h, got \"2562048h\"");
  EXPECT_EQ(Problems1("    limits: {cpu_time: 1500ms}\n"),
            "pools.yaml:4:14: pools.a.limits.cpu_time: expected whole seconds (RLIMIT_CPU counts seconds), got "
            "\"1500ms\"");
  EXPECT_EQ(Problems1("    limits: {cpu_time: 10ms}\n"),
            "pools.yaml:4:14: pools.a.limits.cpu_time: expected at least 1s, got \"10ms\"");
  EXPECT_EQ(Problems1("    restart: {period: 0s}\n"),
            "pools.yaml:4:15: pools.a.restart.period: expected a positive duration, got \"0s\"");
}

TEST_F(ConfigTest, BackoffMustGrow) {
  EXPECT_EQ(Problems1("    restart: {backoff_initial: 10s, backoff_max: 1s}\n"),
            "pools.yaml:4:5: pools.a.restart: backoff_initial (10s) is longer than backoff_max (1s)");
  EXPECT_EQ(Problems1("    restart: {backoff_max: 50ms}\n"),
            "pools.yaml:4:5: pools.a.restart: backoff_initial (100ms) is longer than backoff_max (50ms)");
}

TEST_F(ConfigTest, BadSizesNameTheFormAndRange) {
  EXPECT_EQ(Problems1("    recycle: {max_rss: 512mb}\n"),
            "pools.yaml:4:15: pools.a.recycle.max_rss: expected a size in bytes with an optional unit (B, KB, MB, GB, "
            "TB, KiB, MiB, GiB, TiB), such as \"512KiB\", got \"512mb\"");
  EXPECT_EQ(Problems1("    limits: {address_space: 0}\n"),
            "pools.yaml:4:14: pools.a.limits.address_space: expected a positive size, got \"0\"");
  EXPECT_EQ(Problems1("    limits: {address_space: 16777216TiB}\n"),
            "pools.yaml:4:14: pools.a.limits.address_space: expected a size below 16EiB, got \"16777216TiB\"");
  EXPECT_EQ(Problems1("    channel: {request: 1KiB}\n"),
            "pools.yaml:4:15: pools.a.channel.request: expected at least 4KiB, got \"1KiB\"");
  EXPECT_EQ(Problems1("    channel: {response: 2GiB}\n"),
            "pools.yaml:4:15: pools.a.channel.response: expected at most 1GiB, got \"2GiB\"");
}

TEST_F(ConfigTest, BadScalarsOfOtherKinds) {
  EXPECT_EQ(Problems1("    autostart: yes\n"),
            "pools.yaml:4:5: pools.a.autostart: expected true or false, got \"yes\"");
  EXPECT_EQ(Problems1("    recycle: {jitter: 150%}\n"),
            "pools.yaml:4:15: pools.a.recycle.jitter: expected a percentage from 0 to 100, such as \"10%\", got "
            "\"150%\"");
  EXPECT_EQ(Problems1("    channel: {spin: fast}\n"),
            "pools.yaml:4:15: pools.a.channel.spin: expected auto, off or a duration such as \"20us\", got \"fast\"");
  EXPECT_EQ(Problems1("    channel: {spin: 20s}\n"),
            "pools.yaml:4:15: pools.a.channel.spin: expected at most 10ms (a spin keeps a CPU core busy), got "
            "\"20s\"");
  EXPECT_EQ(Problems1("    env: {\"A=B\": x}\n"),
            "pools.yaml:4:11: pools.a.env.A=B: expected a variable name without \"=\", got \"A=B\"");
  EXPECT_EQ(Problems1("    plugin_config: {\"k=v\": x}\n"),
            "pools.yaml:4:21: pools.a.plugin_config.k=v: expected a key without \"=\", got \"k=v\"");
  EXPECT_EQ(Problems("pools:\n  a:\n    plugin: \"\"\n"), "pools.yaml:3:5: pools.a.plugin: expected a path, got \"\"");
}

TEST_F(ConfigTest, BadSupervisorSettings) {
  auto problems = [&](std::string_view line) {
    return Problems("supervisor:\n  " + std::string(line) + "\npools: {}\n");
  };
  EXPECT_EQ(problems("log_level: info"),
            "pools.yaml:2:3: supervisor.log_level: expected one of trace, debug, information, notice, warning, error, "
            "critical, fatal, got \"info\" (did you mean \"information\"?)");
  EXPECT_EQ(problems("socket_mode: 0800"),
            "pools.yaml:2:3: supervisor.socket_mode: expected an octal file mode such as \"0600\", got \"0800\"");
  EXPECT_EQ(problems("socket_mode: 4755"),
            "pools.yaml:2:3: supervisor.socket_mode: expected a file mode of at most 0777, got \"4755\"");
  EXPECT_EQ(problems("socket_group: \"\""),
            "pools.yaml:2:3: supervisor.socket_group: expected a non-empty string, got \"\"");
  EXPECT_EQ(problems("metrics_listen: 9100"),
            "pools.yaml:2:3: supervisor.metrics_listen: expected \"host:port\", such as \"127.0.0.1:9100\", got "
            "\"9100\"");
  const std::string long_path = "/" + std::string(120, 's') + ".sock";
  EXPECT_EQ(problems("control_socket: " + long_path),
            "pools.yaml:2:3: supervisor.control_socket: path too long for a Unix socket (126 bytes, at most 107): " +
                long_path);
}

TEST_F(ConfigTest, SocketModeIsOctalWithOrWithoutQuotes) {
  EXPECT_EQ(Ok("supervisor: {socket_mode: 600}\npools: {}\n").supervisor.socket_mode, 0600u);
  EXPECT_EQ(Ok("supervisor: {socket_mode: 0660}\npools: {}\n").supervisor.socket_mode, 0660u);
  EXPECT_EQ(Ok("supervisor: {socket_mode: \"0666\"}\npools: {}\n").supervisor.socket_mode, 0666u);
}

TEST_F(ConfigTest, DefaultSocketPathTooLongIsReported) {
  const fs::path deep = dir_ / std::string(100, 'd');
  auto c = LoadString("pools: {}\n", "pools.yaml", deep);
  ASSERT_FALSE(c);
  const fs::path socket = deep / "run/supervisor.sock";
  EXPECT_EQ(c.error().ToString(), "pools.yaml: supervisor.control_socket: path too long for a Unix socket (" +
                                      std::to_string(socket.native().size()) +
                                      " bytes, at most 107): " + socket.native());
}

TEST_F(ConfigTest, BadPoolNames) {
  const std::string rule =
      "bad pool name: use 1 to 64 letters, digits, \"_\", \".\" or \"-\" (names appear in URLs and in \"pool:N\")";
  EXPECT_EQ(Problems("pools:\n  \"a:1\": {plugin: libx.so}\n"), "pools.yaml:2:3: pools.a:1: " + rule);
  EXPECT_EQ(Problems("pools:\n  my pool: {plugin: libx.so}\n"), "pools.yaml:2:3: pools.my pool: " + rule);
  EXPECT_EQ(Problems("pools:\n  \"\": {plugin: libx.so}\n"), "pools.yaml:2:3: pools.: " + rule);
  EXPECT_EQ(Problems("pools:\n  " + std::string(65, 'p') + ": {plugin: libx.so}\n"),
            "pools.yaml:2:3: pools." + std::string(65, 'p') + ": " + rule);
  EXPECT_EQ(Problems("pools:\n  ..: {plugin: libx.so}\n"),
            "pools.yaml:2:3: pools...: bad pool name: \".\" and \"..\" are reserved");
  EXPECT_EQ(Ok("pools:\n  A-z_0.9: {plugin: libx.so}\n").pools.count("A-z_0.9"), 1u);
}

TEST_F(ConfigTest, MissingPluginFileIsReportedAtThePluginValue) {
  EXPECT_EQ(Problems("pools:\n  a:\n    plugin: ./lib/nothere.so\n"),
            "pools.yaml:3:13: pools.a.plugin: no such file: " + (dir_ / "lib/nothere.so").native());
  EXPECT_EQ(Problems("pools:\n  a:\n    plugin: libx.so/x.so\n"),
            "pools.yaml:3:13: pools.a.plugin: no such file: " + (dir_ / "libx.so/x.so").native());
  EXPECT_EQ(Problems("pools:\n  a: {plugin: .}\n"),
            "pools.yaml:2:15: pools.a.plugin: not a regular file: " + (dir_ / "").native());
}

TEST_F(ConfigTest, ReportsEveryProblemInFileOrder) {
  EXPECT_EQ(Problems(R"(supervisor:
  log_level: loud
pools:
  sqlite:
    plugin: ./missing.so
    workers: two
    call_timout: 5s
    restart: {period: 1}
  "x:y":
    plugin: libx.so
  zlib:
    plugin: libx.so
    limits: {open_files: many}
)"),
            "pools.yaml:2:3: supervisor.log_level: expected one of trace, debug, information, notice, warning, error, "
            "critical, fatal, got \"loud\"\n"
            "pools.yaml:5:13: pools.sqlite.plugin: no such file: " +
                (dir_ / "missing.so").native() +
                "\n"
                "pools.yaml:6:5: pools.sqlite.workers: expected a positive integer, got \"two\"\n"
                "pools.yaml:7:5: pools.sqlite.call_timout: unknown key (did you mean \"call_timeout\"?)\n"
                "pools.yaml:8:15: pools.sqlite.restart.period: expected a duration with a unit (ns, us, ms, s, m, h), "
                "such as \"500ms\", got \"1\"\n"
                "pools.yaml:9:3: pools.x:y: bad pool name: use 1 to 64 letters, digits, \"_\", \".\" or \"-\" (names "
                "appear in URLs and in \"pool:N\")\n"
                "pools.yaml:13:14: pools.zlib.limits.open_files: expected a positive integer, got \"many\"");
}

TEST_F(ConfigTest, ValidateAsksTheProbeAboutExistingPlugins) {
  Config c = Ok("pools:\n  a:\n    plugin: libx.so\n  b: {workers: 2, plugin: libx.so}\n");
  fs::remove(dir_ / "libx.so");
  Write("liby.so", "");
  c.pools.at("b").plugin = dir_ / "liby.so";
  std::vector<std::string> probed;
  auto probe = [&](const PoolConfig& pool) -> std::optional<std::string> {
    probed.push_back(pool.name);
    return "init failed: " + pool.name;
  };
  auto result = Validate(c, probe);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().ToString(), "pools.yaml:3:13: pools.a.plugin: no such file: " + (dir_ / "libx.so").native() +
                                           "\npools.yaml:4:27: pools.b.plugin: init failed: b");
  EXPECT_EQ(probed, std::vector<std::string>{"b"});  // not asked about a missing file
}

TEST_F(ConfigTest, ValidatePassesWhenTheProbeIsHappy) {
  Config c = Ok("pools:\n  a:\n    plugin: libx.so\n");
  EXPECT_TRUE(Validate(c, [](const PoolConfig&) { return std::nullopt; }));
  EXPECT_TRUE(Validate(c));
}

// examples/pools.yaml names ../build/examples/plugins/*.so; build directories
// other than build/ hold their own copies, so these files are stood in for.
TEST_F(ConfigTest, ExamplePoolsYamlLoads) {
  std::ifstream in(SV_SOURCE_DIR "/examples/pools.yaml");
  ASSERT_TRUE(in);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string names[] = {"libzlib_plugin.so", "libsqlite_plugin.so", "libecho_plugin.so"};
  for (const std::string& name : names) {
    EXPECT_TRUE(fs::exists(fs::path(SV_PLUGIN_DIR) / name)) << name << " is not what the build makes";
    Write("build/examples/plugins/" + name, "");
  }
  auto c = LoadString(text, "examples/pools.yaml", dir_ / "examples");
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_EQ(c->pools.size(), 3u);
  const fs::path plugins = dir_ / "build/examples/plugins";
  EXPECT_EQ(c->pools.at("zlib").plugin, plugins / names[0]);
  EXPECT_EQ(c->pools.at("sqlite").plugin, plugins / names[1]);
  EXPECT_EQ(c->pools.at("echo").plugin, plugins / names[2]);
  EXPECT_EQ(c->pools.at("sqlite").call_timeout, 500ms);
  EXPECT_EQ(c->pools.at("sqlite").workers, 2u);
}

// The YAML block under "## Full example" in docs/config.md: it loads, and the
// values it shows match the code's defaults except where its comments say so.
TEST_F(ConfigTest, DocsFullExampleLoadsWithTheDocumentedDefaults) {
  std::ifstream in(SV_SOURCE_DIR "/docs/config.md");
  const std::string doc{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::size_t section = doc.find("## Full example");
  ASSERT_NE(section, std::string::npos);
  const std::size_t begin = doc.find("```yaml\n", section) + 8;
  const std::size_t end = doc.find("```", begin);
  Write("build/examples/plugins/libsqlite_plugin.so", "");
  auto c = LoadString(doc.substr(begin, end - begin), "docs/config.md", dir_ / "docs");
  ASSERT_TRUE(c) << c.error().ToString();
  SupervisorSettings supervisor;
  supervisor.control_socket = dir_ / "docs/run/supervisor.sock";
  supervisor.socket_group = "svadmin";
  supervisor.log_file = dir_ / "docs/log/supervisor.log";
  supervisor.metrics_listen = ListenAddress{"127.0.0.1", 9100};
  EXPECT_EQ(c->supervisor, supervisor);
  PoolConfig sqlite;
  sqlite.name = "sqlite";
  sqlite.plugin = dir_ / "build/examples/plugins/libsqlite_plugin.so";
  sqlite.plugin_position = c->pools.at("sqlite").plugin_position;
  sqlite.plugin_config = {{"page_cache", "2MiB"}};
  sqlite.recycle.max_rss = 512u << 20;
  sqlite.limits = {1u << 30, std::chrono::seconds(60), 256};
  sqlite.env = {{"LC_ALL", "C"}};
  EXPECT_EQ(c->pools.at("sqlite"), sqlite);
}

TEST(ExampleConfigTest, LoadsFromTheSourceTreeWithTheDefaultBuild) {
  if (fs::path(SV_PLUGIN_DIR) != fs::path(SV_SOURCE_DIR "/build/examples/plugins")) {
    GTEST_SKIP() << "plugins are built in " << SV_PLUGIN_DIR << ", not in build/";
  }
  auto c = LoadFile(SV_SOURCE_DIR "/examples/pools.yaml");
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->pools.size(), 3u);
}

}  // namespace
}  // namespace sv::config
