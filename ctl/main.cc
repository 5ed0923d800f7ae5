// supervisorctl: the command-line client of the supervisor daemon's control
// API. Parses the command line, finds the socket, runs one verb, exits with
// its code (docs/supervisorctl.md).
#include <csignal>
#include <iostream>
#include <string_view>
#include <vector>

#include "ctl/check_config.h"
#include "ctl/client.h"
#include "ctl/commands.h"
#include "ctl/discovery.h"
#include "ctl/verbs.h"
#include "supervisor/probe.h"

namespace {

using namespace sv::ctl;

int RunCheckConfig(const Command& command) {
  std::string worker = sv::supervisor::DefaultWorkerPath();
  if (worker.find('/') == std::string::npos) {  // not found: the bare name is PATH lookup's last resort
    std::cerr << "supervisorctl: sv-worker not found (set SV_WORKER): plugins were not loaded\n";
    worker.clear();
  }
  return CheckConfig(command.file, worker, command.json, std::cout, std::cerr);
}

int Main(const Command& command) {
  if (command.verb == Verb::kHelp) {
    std::cout << HelpText(command.help_verb);
    return kExitOk;
  }
  if (command.verb == Verb::kCheckConfig) return RunCheckConfig(command);
  auto location = FindSocket(SourcesFromEnvironment(command.socket, command.config));
  if (!location) {
    if (command.verb != Verb::kPools) std::cerr << "supervisorctl: " << location.error() << "\n";
    return kExitUnknown;
  }
  const Client client(location->socket);
  return RunVerb(command, client, location->config, Streams{std::cin, std::cout, std::cerr});
}

}  // namespace

int main(int argc, char** argv) {
  // A closed stdout (supervisorctl tail -f | head) shows as a failed write, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  std::ios::sync_with_stdio(false);
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  auto command = ParseCommandLine(args);
  if (!command) {
    std::cerr << "supervisorctl: " << command.error() << "\n";
    return kExitUsage;
  }
  const int code = Main(*command);
  std::cout.flush();
  return code;
}
