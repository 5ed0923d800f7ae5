// Socket discovery: the precedence of flags, environment and ./pools.yaml.
#include "ctl/discovery.h"

#include <cstdlib>
#include <fstream>
#include <system_error>

#include "config/load.h"

namespace sv::ctl {
namespace {

std::optional<std::string> NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// A plain or quoted YAML scalar as written after its key, comment dropped.
std::string Unquote(std::string value) {
  value.erase(0, value.find_first_not_of(' '));
  if (auto hash = value.find(" #"); hash != std::string::npos) value.resize(hash);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.pop_back();
  if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0]) {
    value = value.substr(1, value.size() - 2);
  }
  return value;
}

// `control_socket` from the text of a config that failed to load, read the
// plain way it is usually written: a top-level "supervisor:" line, then an
// indented "control_socket: VALUE" line under it. nullopt when not so written.
std::optional<std::string> ScanControlSocket(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  bool in_supervisor = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') in_supervisor = line.starts_with("supervisor:");
    const std::size_t indent = line.find_first_not_of(' ');
    if (!in_supervisor || indent == 0 || indent == std::string::npos) continue;
    if (line.compare(indent, 15, "control_socket:") != 0) continue;
    if (std::string value = Unquote(line.substr(indent + 15)); !value.empty()) return value;
  }
  return std::nullopt;
}

std::expected<SocketLocation, std::string> FromConfig(const std::string& file) {
  auto config = config::LoadFile(file);
  if (!config && config.error().sys_errno == 0) {
    // The daemon runs with the config it last loaded; `reread` must still
    // reach it to hear what is wrong with this one.
    if (auto socket = ScanControlSocket(file)) {
      return SocketLocation{(std::filesystem::absolute(file).parent_path() / *socket).lexically_normal().string(),
                            file};
    }
  }
  if (!config) {
    return std::unexpected("cannot read the socket path from " + file + ":\n" + config.error().ToString() +
                           "\n(pass the socket with -s PATH)");
  }
  return SocketLocation{config->supervisor.control_socket.string(), file};
}

}  // namespace

std::expected<SocketLocation, std::string> FindSocket(const SocketSources& sources) {
  if (sources.socket_flag) return SocketLocation{*sources.socket_flag, ""};
  if (sources.config_flag) return FromConfig(*sources.config_flag);
  if (sources.socket_env && !sources.socket_env->empty()) return SocketLocation{*sources.socket_env, ""};
  if (sources.config_env && !sources.config_env->empty()) return FromConfig(*sources.config_env);
  std::error_code ec;
  const std::filesystem::path local = sources.working_dir / "pools.yaml";
  if (std::filesystem::exists(local, ec)) return FromConfig(local.string());
  return std::unexpected(std::string(
      "no control socket given: pass -s SOCKET or -c pools.yaml, set SUPERVISOR_SOCKET or SUPERVISOR_CONFIG, "
      "or run where pools.yaml is"));
}

SocketSources SourcesFromEnvironment(std::optional<std::string> socket_flag, std::optional<std::string> config_flag) {
  std::error_code ec;
  std::filesystem::path cwd = std::filesystem::current_path(ec);
  return SocketSources{std::move(socket_flag), std::move(config_flag), NonEmptyEnv("SUPERVISOR_SOCKET"),
                       NonEmptyEnv("SUPERVISOR_CONFIG"), ec ? std::filesystem::path(".") : cwd};
}

}  // namespace sv::ctl
