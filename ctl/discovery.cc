// Socket discovery: the precedence of flags, environment and ./pools.yaml.
#include "ctl/discovery.h"

#include <cstdlib>
#include <system_error>

#include "config/load.h"

namespace sv::ctl {
namespace {

std::optional<std::string> NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::expected<SocketLocation, std::string> FromConfig(const std::string& file) {
  auto config = config::LoadFile(file);
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
