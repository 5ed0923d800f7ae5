// pools.yaml's schema as Field tables: each map's allowed keys, their readers
// and their ranges. docs/config.md documents the same keys and defaults.
#include "config/internal/read_config.h"

#include <limits>
#include <string>

#include "config/internal/text.h"
#include "config/units.h"

namespace sv::config::internal {
namespace {

using std::chrono::nanoseconds;

constexpr nanoseconds kZero{0};
constexpr nanoseconds kPositive{1};
constexpr nanoseconds kForever = nanoseconds::max();
constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

// --- supervisor: ---

// Checks a resolved socket path fits sockaddr_un, where `e` or `at` names it.
bool CheckSocketPath(Reader& r, SourcePosition at, const std::string& key_path, const std::filesystem::path& path) {
  const std::size_t size = path.native().size();
  if (size <= kMaxSocketPathSize) return true;
  r.Problem(at, key_path,
            "path too long for a Unix socket (" + std::to_string(size) + " bytes, at most " +
                std::to_string(kMaxSocketPathSize) + "): " + path.native());
  return false;
}

void ReadControlSocket(Reader& r, const Entry& e, SupervisorSettings& s) {
  auto path = r.Path(e);
  if (path && CheckSocketPath(r, e.at, e.path, *path)) s.control_socket = *path;
}

void ReadSocketMode(Reader& r, const Entry& e, SupervisorSettings& s) {
  auto text = r.Scalar(e, "an octal file mode");
  if (!text) return;
  auto mode = ParseFileMode(*text);
  if (!mode) return r.Problem(e, mode.error());
  s.socket_mode = *mode;
}

void ReadMetricsListen(Reader& r, const Entry& e, SupervisorSettings& s) {
  auto text = r.Scalar(e, "\"host:port\"");
  if (!text) return;
  auto address = ParseListenAddress(*text);
  if (!address) return r.Problem(e, address.error());
  s.metrics_listen = *address;
}

void ReadLogLevel(Reader& r, const Entry& e, SupervisorSettings& s) {
  if (auto level = r.Choice(e, kLogLevelNames)) s.log_level = static_cast<LogLevel>(*level);
}

constexpr Field<SupervisorSettings> kSupervisorFields[] = {
    {"control_socket", ReadControlSocket},
    {"socket_mode", ReadSocketMode},
    {"socket_group", [](Reader& r, const Entry& e, SupervisorSettings& s) { Set(s.socket_group, r.String(e)); }},
    {"log_file", [](Reader& r, const Entry& e, SupervisorSettings& s) { Set(s.log_file, r.Path(e)); }},
    {"log_level", ReadLogLevel},
    {"metrics_listen", ReadMetricsListen},
};

// --- pools.<name>.restart / recycle / limits / channel ---

constexpr Field<RestartPolicy> kRestartFields[] = {
    {"backoff_initial",
     [](Reader& r, const Entry& e, RestartPolicy& p) { Set(p.backoff_initial, r.Duration(e, kPositive, kForever)); }},
    {"backoff_max",
     [](Reader& r, const Entry& e, RestartPolicy& p) { Set(p.backoff_max, r.Duration(e, kPositive, kForever)); }},
    {"healthy_after",
     [](Reader& r, const Entry& e, RestartPolicy& p) { Set(p.healthy_after, r.Duration(e, kZero, kForever)); }},
    {"intensity", [](Reader& r, const Entry& e, RestartPolicy& p) { Set(p.intensity, r.Integer(e, 0, 1'000'000)); }},
    {"period", [](Reader& r, const Entry& e, RestartPolicy& p) { Set(p.period, r.Duration(e, kPositive, kForever)); }},
};

void ReadRestart(Reader& r, const Entry& e, PoolConfig& p) {
  if (!ReadFields<RestartPolicy>(r, e, kRestartFields, p.restart)) return;
  if (p.restart.backoff_initial > p.restart.backoff_max) {
    r.Problem(e, "backoff_initial (" + FormatDuration(p.restart.backoff_initial) + ") is longer than backoff_max (" +
                     FormatDuration(p.restart.backoff_max) + ")");
  }
}

constexpr Field<RecyclePolicy> kRecycleFields[] = {
    {"after_calls", [](Reader& r, const Entry& e, RecyclePolicy& p) { Set(p.after_calls, r.Integer(e, 0, kU64Max)); }},
    {"jitter", [](Reader& r, const Entry& e, RecyclePolicy& p) { Set(p.jitter_percent, r.Percent(e)); }},
    {"max_rss", [](Reader& r, const Entry& e, RecyclePolicy& p) { Set(p.max_rss, r.Size(e, 1, kU64Max)); }},
};

// RLIMIT_CPU counts whole seconds; a fraction would be silently cut.
void ReadCpuTime(Reader& r, const Entry& e, ResourceLimits& l) {
  auto time = r.Duration(e, std::chrono::seconds(1), kForever);
  if (!time) return;
  if (*time % std::chrono::seconds(1) != kZero) {
    return r.Problem(e, "expected whole seconds (RLIMIT_CPU counts seconds), got " + Quote(e.value.Scalar()));
  }
  l.cpu_time = std::chrono::duration_cast<std::chrono::seconds>(*time);
}

constexpr Field<ResourceLimits> kLimitsFields[] = {
    {"address_space",
     [](Reader& r, const Entry& e, ResourceLimits& l) { Set(l.address_space, r.Size(e, 1, kU64Max)); }},
    {"cpu_time", ReadCpuTime},
    {"open_files",
     [](Reader& r, const Entry& e, ResourceLimits& l) { Set(l.open_files, r.Integer(e, 1, kMaxOpenFiles)); }},
};

// "auto", "off", or a fixed budget; "0" is "off".
void ReadSpin(Reader& r, const Entry& e, ChannelSettings& c) {
  auto text = r.Scalar(e, "auto, off or a duration");
  if (!text) return;
  if (*text == "auto" || *text == "off") {
    c.spin = {*text == "auto" ? SpinSetting::Mode::kAuto : SpinSetting::Mode::kOff, kZero};
    return;
  }
  auto budget = ParseDuration(*text);
  if (!budget) return r.Problem(e, "expected auto, off or a duration such as \"20us\", got " + Quote(*text));
  if (*budget > kMaxSpin) {
    return r.Problem(
        e, "expected at most " + FormatDuration(kMaxSpin) + " (a spin keeps a CPU core busy), got " + Quote(*text));
  }
  c.spin =
      *budget == kZero ? SpinSetting{SpinSetting::Mode::kOff, kZero} : SpinSetting{SpinSetting::Mode::kFixed, *budget};
}

void ReadRequest(Reader& r, const Entry& e, ChannelSettings& c) {
  Set(c.request, r.Size(e, kMinChannelArea, kMaxChannelArea));
}

void ReadResponse(Reader& r, const Entry& e, ChannelSettings& c) {
  Set(c.response, r.Size(e, kMinChannelArea, kMaxChannelArea));
}

constexpr Field<ChannelSettings> kChannelFields[] = {
    {"request", ReadRequest},
    {"response", ReadResponse},
    {"spin", ReadSpin},
};

// --- pools.<name> ---

// Key/value strings handed to the plugin's init, in file order. sv-worker
// passes each as KEY=VALUE, so a key cannot hold "=".
void ReadPluginConfig(Reader& r, const Entry& e, PoolConfig& p) {
  p.plugin_config.clear();
  r.ForEach(e, [&](const Entry& item) {
    if (item.key.empty() || item.key.find('=') != std::string::npos) {
      return r.Problem(item, "expected a key without \"=\", got " + Quote(item.key));
    }
    if (auto value = r.Scalar(item, "a scalar value")) p.plugin_config.emplace_back(item.key, *value);
  });
}

// Environment variables: names cannot be empty or hold "=".
void ReadEnv(Reader& r, const Entry& e, PoolConfig& p) {
  p.env.clear();
  r.ForEach(e, [&](const Entry& item) {
    if (item.key.empty() || item.key.find_first_of(std::string_view("=\0", 2)) != std::string::npos) {
      return r.Problem(item, "expected a variable name without \"=\", got " + Quote(item.key));
    }
    if (auto value = r.Scalar(item, "a scalar value")) p.env[item.key] = *value;
  });
}

void ReadPlugin(Reader& r, const Entry& e, PoolConfig& p) {
  if (auto path = r.Path(e)) {
    p.plugin = *path;
    p.plugin_position = PositionOf(e.value.Mark());
  }
}

constexpr Field<PoolConfig> kPoolFields[] = {
    {"plugin", ReadPlugin, /*required=*/true},
    {"plugin_config", ReadPluginConfig},
    {"workers", [](Reader& r, const Entry& e, PoolConfig& p) { Set(p.workers, r.Integer(e, 1, kMaxWorkers)); }},
    {"spare_workers",
     [](Reader& r, const Entry& e, PoolConfig& p) { Set(p.spare_workers, r.Integer(e, 0, kMaxWorkers - 1)); }},
    {"autostart", [](Reader& r, const Entry& e, PoolConfig& p) { Set(p.autostart, r.Bool(e)); }},
    {"call_timeout",
     [](Reader& r, const Entry& e, PoolConfig& p) { Set(p.call_timeout, r.Duration(e, kPositive, kForever)); }},
    {"max_queue", [](Reader& r, const Entry& e, PoolConfig& p) { Set(p.max_queue, r.Integer(e, 0, kMaxQueue)); }},
    {"start_timeout",
     [](Reader& r, const Entry& e, PoolConfig& p) { Set(p.start_timeout, r.Duration(e, kPositive, kForever)); }},
    {"stop_timeout",
     [](Reader& r, const Entry& e, PoolConfig& p) { Set(p.stop_timeout, r.Duration(e, kZero, kForever)); }},
    {"restart", ReadRestart},
    {"recycle",
     [](Reader& r, const Entry& e, PoolConfig& p) { ReadFields<RecyclePolicy>(r, e, kRecycleFields, p.recycle); }},
    {"limits",
     [](Reader& r, const Entry& e, PoolConfig& p) { ReadFields<ResourceLimits>(r, e, kLimitsFields, p.limits); }},
    {"channel",
     [](Reader& r, const Entry& e, PoolConfig& p) { ReadFields<ChannelSettings>(r, e, kChannelFields, p.channel); }},
    {"env", ReadEnv},
};

// Pool names appear in URLs, metrics labels and "pool:N" worker names.
std::optional<std::string> PoolNameProblem(std::string_view name) {
  const bool allowed = !name.empty() && name.size() <= kMaxPoolNameSize &&
                       name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
                           std::string_view::npos;
  if (!allowed) {
    return "bad pool name: use 1 to " + std::to_string(kMaxPoolNameSize) +
           " letters, digits, \"_\", \".\" or \"-\" (names appear in URLs and in \"pool:N\")";
  }
  if (name.find_first_not_of('.') == std::string_view::npos) return "bad pool name: \".\" and \"..\" are reserved";
  return std::nullopt;
}

void ReadPool(Reader& r, const Entry& e, Config& c) {
  PoolConfig pool;
  pool.name = e.key;
  const bool is_map = ReadFields<PoolConfig>(r, e, kPoolFields, pool);
  if (is_map && pool.workers + pool.spare_workers > kMaxWorkers) {
    r.Problem(e, "workers + spare_workers is " + std::to_string(pool.workers + pool.spare_workers) + ", at most " +
                     std::to_string(kMaxWorkers));
  }
  if (auto problem = PoolNameProblem(e.key)) return r.Problem(e, *problem);
  c.pools.emplace(e.key, std::move(pool));
}

// --- the document ---

void ReadSupervisor(Reader& r, const Entry& e, Config& c) {
  ReadFields<SupervisorSettings>(r, e, kSupervisorFields, c.supervisor);
}

void ReadPools(Reader& r, const Entry& e, Config& c) {
  r.ForEach(e, [&](const Entry& pool) { ReadPool(r, pool, c); });
}

constexpr Field<Config> kRootFields[] = {
    {"supervisor", ReadSupervisor},
    {"pools", ReadPools, /*required=*/true, " (write \"pools: {}\" for none)"},
};

}  // namespace

Config ReadConfig(Reader& r, const YAML::Node& root) {
  Config config;
  config.path = r.file();
  const std::filesystem::path default_socket = (r.base_dir() / "run/supervisor.sock").lexically_normal();
  config.supervisor.control_socket = default_socket;
  ReadFields<Config>(r, Entry{root, "", "", PositionOf(root.Mark())}, kRootFields, config);
  if (config.supervisor.control_socket == default_socket) {
    CheckSocketPath(r, {}, "supervisor.control_socket", default_socket);
  }
  return config;
}

}  // namespace sv::config::internal
