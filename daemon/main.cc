// supervisor -c pools.yaml [--check]: the daemon's command line.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "daemon/daemon.h"

namespace {

constexpr const char* kUsage =
    "usage: supervisor -c FILE [--check]\n"
    "Runs the worker pools declared in FILE in the foreground and serves the\n"
    "control API on its control_socket (docs/api.md); drive it with supervisorctl.\n"
    "  -c, --config FILE  the pools file (YAML, docs/config.md)\n"
    "  --check            validate FILE (plugins included) and exit\n"
    "  --version          print the version\n"
    "Signals: HUP rereads FILE and applies the changes; TERM or INT stops every\n"
    "pool gracefully and exits 0 (a second one kills what is left at once).\n"
    "Exit: 0 stopped; 100 bad config or usage; 111 temporary (socket taken, no\n"
    "resources); 101 internal error.\n";

int Usage(const char* problem) {
  std::fprintf(stderr, "supervisor: %s\n%s", problem, kUsage);
  return sv::daemon::kExitBadConfig;
}

}  // namespace

int main(int argc, char** argv) {
  sv::daemon::DaemonOptions options;
  options.version = SV_VERSION;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-c" || arg == "--config") {
      if (i + 1 == argc) return Usage("-c needs a file");
      options.config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      options.config_path = std::string(arg.substr(9));
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--version") {
      std::printf("supervisor %s\n", SV_VERSION);
      return 0;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      return Usage(("unknown argument '" + std::string(arg) + "'").c_str());
    }
  }
  if (options.config_path.empty()) return Usage("no config file (-c FILE)");
  if (check) return sv::daemon::CheckConfig(options.config_path);
  // Before any thread exists, so that every thread inherits the mask and the
  // signals wait for the daemon's signalfd.
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGHUP, SIGINT, SIGTERM}) sigaddset(&handled, sig);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return sv::daemon::RunDaemon(options);
}
