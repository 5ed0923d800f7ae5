// The `supervisor` daemon: runs the pools of one config file in the
// foreground, serves the control API, and handles SIGHUP (reload),
// SIGTERM/SIGINT (graceful stop; a second one skips the grace) and systemd's
// notify protocol. Used by daemon/main.cc and the daemon's tests.
#pragma once

#include <filesystem>
#include <string>

namespace sv::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadConfig = 100;  // restarting will not help
inline constexpr int kExitTemporary = 111;  // e.g. the socket is taken: restarting may help
inline constexpr int kExitBug = 101;

struct DaemonOptions {
  std::filesystem::path config_path;
  std::string version;
};

// Validates the file and every pool's plugin; prints "<file>: ok" or every
// problem to stderr. Returns kExitOk or kExitBadConfig.
int CheckConfig(const std::filesystem::path& path);

// Runs until stopped. The calling thread must have SIGHUP, SIGINT and SIGTERM
// blocked in every thread (block them before starting any thread). Returns the
// process exit code.
int RunDaemon(const DaemonOptions& options);

}  // namespace sv::daemon
