// Finding the daemon's control socket: -s, -c, $SUPERVISOR_SOCKET,
// $SUPERVISOR_CONFIG, then ./pools.yaml. Runs in the supervisorctl process.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>

namespace sv::ctl {

// Where to look, as given by the command line and the environment.
struct SocketSources {
  std::optional<std::string> socket_flag;  // -s PATH
  std::optional<std::string> config_flag;  // -c FILE
  std::optional<std::string> socket_env;   // $SUPERVISOR_SOCKET (empty counts as unset)
  std::optional<std::string> config_env;   // $SUPERVISOR_CONFIG (empty counts as unset)
  std::filesystem::path working_dir;       // where ./pools.yaml is looked for
};

// The socket, and the config file it came from (empty when none), so that a
// message can say how to start the daemon.
struct SocketLocation {
  std::string socket;
  std::string config;
};

// The first source set, in the order of the fields above; pools.yaml in
// `working_dir` only when it exists. A config file is read with
// config::LoadFile and yields its `supervisor.control_socket` (relative paths
// already resolved against the file's folder). A config that is readable but
// wrong (so that `reread` can still reach the daemon to be told why) yields
// the socket when its text has a block-style `supervisor:` section with a
// `control_socket:` line. Errors (a sentence, possibly several lines): no
// source at all, or a config that cannot be read or whose socket is unknown.
[[nodiscard]] std::expected<SocketLocation, std::string> FindSocket(const SocketSources& sources);

// The sources from the environment of this process (getenv, the working
// directory) and the flags given.
SocketSources SourcesFromEnvironment(std::optional<std::string> socket_flag, std::optional<std::string> config_flag);

}  // namespace sv::ctl
