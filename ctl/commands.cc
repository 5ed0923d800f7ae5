// supervisorctl's command line: the verb table, flag and operand parsing, help.
#include "ctl/commands.h"

#include <array>
#include <charconv>

#include "config/units.h"

namespace sv::ctl {
namespace {

using Args = std::vector<std::string_view>;
using ParseResult = std::expected<void, std::string>;

constexpr std::size_t kMaxPoolName = 64;  // config/schema.h's kMaxPoolNameSize

// Each verb's spelling, usage line, one-line meaning and operand parser.
struct VerbInfo {
  Verb verb;
  std::string_view name;
  std::string_view usage;
  std::string_view summary;
  ParseResult (*parse)(const Args& operands, Command& command);
};

std::unexpected<std::string> Usage(std::string message) { return std::unexpected(std::move(message)); }

std::optional<std::uint32_t> ParseU32(std::string_view text) {
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

ParseResult ExpectCount(const Args& operands, std::size_t min, std::size_t max, std::string_view usage) {
  if (operands.size() < min) return Usage("too few arguments; usage: supervisorctl " + std::string(usage));
  if (operands.size() > max) return Usage("too many arguments; usage: supervisorctl " + std::string(usage));
  return {};
}

ParseResult AddTargets(const Args& operands, Command& command, bool allow_all, bool allow_slot) {
  for (std::string_view text : operands) {
    auto target = ParseTarget(text, allow_all);
    if (!target) return Usage(target.error());
    if (!allow_slot && target->slot) return Usage("expected a pool name, got \"" + std::string(text) + "\"");
    command.targets.push_back(std::move(*target));
  }
  return {};
}

ParseResult NoOperands(const Args& operands, Command&) {
  if (!operands.empty()) return Usage("unexpected argument \"" + std::string(operands[0]) + "\"");
  return {};
}

ParseResult ParseStatus(const Args& operands, Command& command) { return AddTargets(operands, command, true, true); }

ParseResult ParseLifecycle(const Args& operands, Command& command) {
  if (operands.empty()) return Usage("name a pool, a worker (pool:N) or all");
  return AddTargets(operands, command, true, true);
}

ParseResult ParseUpdate(const Args& operands, Command& command) { return AddTargets(operands, command, false, false); }

ParseResult ParseScale(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 2, 2, "scale <pool> <N>"); !ok) return ok;
  if (auto ok = AddTargets({operands[0]}, command, false, false); !ok) return ok;
  auto workers = ParseU32(operands[1]);
  if (!workers) return Usage("expected a number of workers, got \"" + std::string(operands[1]) + "\"");
  command.workers = *workers;
  return {};
}

ParseResult ParseSignal(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 2, 2, "signal <SIG> <pool|pool:N>"); !ok) return ok;
  command.signal = operands[0];
  return AddTargets({operands[1]}, command, false, true);
}

ParseResult ParsePid(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 0, 1, "pid [pool|pool:N]"); !ok) return ok;
  return AddTargets(operands, command, false, true);
}

ParseResult ParseTail(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 1, 2, "tail [-f] [-n N] <pool> [stdout|stderr]"); !ok) return ok;
  if (operands.size() == 2) {
    if (operands[1] != "stdout" && operands[1] != "stderr") {
      return Usage("expected stdout or stderr, got \"" + std::string(operands[1]) + "\"");
    }
    command.stream = operands[1];
  }
  return AddTargets({operands[0]}, command, false, false);
}

ParseResult ParseCall(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 2, 3, "call <pool> <method> [DATA|@file|-]"); !ok) return ok;
  if (operands[1].empty()) return Usage("the method name is empty");
  command.method = operands[1];
  if (operands.size() == 3) command.input = std::string(operands[2]);
  return AddTargets({operands[0]}, command, false, false);
}

ParseResult ParsePools(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 0, 1, "_pools [pool]"); !ok) return ok;
  return AddTargets(operands, command, false, false);
}

ParseResult ParseCheckConfig(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 1, 1, "check-config <file>"); !ok) return ok;
  command.file = operands[0];
  return {};
}

ParseResult ParseHelp(const Args& operands, Command& command) {
  if (auto ok = ExpectCount(operands, 0, 1, "help [verb]"); !ok) return ok;
  if (operands.empty()) return {};
  command.help_verb = VerbNamed(operands[0]);
  if (!command.help_verb) return Usage("no verb named \"" + std::string(operands[0]) + "\"");
  return {};
}

constexpr std::array<VerbInfo, 16> kVerbs = {{
    {Verb::kStatus, "status", "status [pool|pool:N ...]",
     "show every worker and pool; exit 0 when all run, 3 when some do not", ParseStatus},
    {Verb::kStart, "start", "start <pool|pool:N|all ...>", "start and wait until READY", ParseLifecycle},
    {Verb::kStop, "stop", "stop <pool|pool:N|all ...>", "stop; report workers that had to be killed", ParseLifecycle},
    {Verb::kRestart, "restart", "restart <pool|pool:N|all ...>", "rolling restart; wait until READY again",
     ParseLifecycle},
    {Verb::kReread, "reread", "reread", "show what update would change, from the config file as it is now",
     NoOperands},
    {Verb::kUpdate, "update", "update [pool ...]", "reread the config file and apply it (to the pools named)",
     ParseUpdate},
    {Verb::kScale, "scale", "scale <pool> <N>", "set the pool's number of workers", ParseScale},
    {Verb::kSignal, "signal", "signal <SIG> <pool|pool:N>", "send a signal (HUP, SIGTERM, 9) to workers",
     ParseSignal},
    {Verb::kPid, "pid", "pid [pool|pool:N]", "the daemon's pid, or the workers' pids one per line", ParsePid},
    {Verb::kTail, "tail", "tail [-f] [-n N] <pool> [stdout|stderr]",
     "the last N (10) lines of the pool's stdout (default) or stderr; -f follows", ParseTail},
    {Verb::kCall, "call", "call <pool> <method> [DATA|@file|-]",
     "call the pool; raw output to stdout (input: DATA, a file, or - for stdin)", ParseCall},
    {Verb::kShutdown, "shutdown", "shutdown", "stop every pool and the daemon", NoOperands},
    {Verb::kVersion, "version", "version", "the daemon's version", NoOperands},
    {Verb::kCheckConfig, "check-config", "check-config <file>",
     "check a config file and load its plugins, without the daemon", ParseCheckConfig},
    {Verb::kHelp, "help", "help [verb]", "this text, or one verb's", ParseHelp},
    {Verb::kPools, "_pools", "_pools [pool]", "pool names, or the pool's workers (pool:N), one per line (for completion)",
     ParsePools},
}};

const VerbInfo& InfoOf(Verb verb) {
  for (const VerbInfo& info : kVerbs) {
    if (info.verb == verb) return info;
  }
  return kVerbs.back();  // cannot happen: every Verb has a row
}

// The flags every verb takes, and tail's. `next` yields a flag's value.
ParseResult ParseFlag(std::string_view flag, std::optional<std::string_view> value, Command& command,
                      bool& used_value) {
  used_value = false;
  auto need = [&](std::string_view what) -> std::expected<std::string_view, std::string> {
    if (!value) return Usage(std::string(flag) + " needs " + std::string(what));
    used_value = true;
    return *value;
  };
  if (flag == "--json") {
    command.json = true;
  } else if (flag == "-f" || flag == "--follow") {
    command.follow = true;
  } else if (flag == "-s" || flag == "--socket") {
    auto v = need("a socket path");
    if (!v) return std::unexpected(v.error());
    command.socket = std::string(*v);
  } else if (flag == "-c" || flag == "--config") {
    auto v = need("a config file");
    if (!v) return std::unexpected(v.error());
    command.config = std::string(*v);
  } else if (flag == "--timeout") {
    auto v = need("a duration such as 500ms or 10s");
    if (!v) return std::unexpected(v.error());
    auto timeout = config::ParseDuration(*v);
    if (!timeout) return Usage("--timeout: " + timeout.error());
    command.timeout = *timeout;
  } else if (flag == "-n" || flag == "--lines") {
    auto v = need("a number of lines");
    if (!v) return std::unexpected(v.error());
    auto lines = ParseU32(*v);
    if (!lines) return Usage("-n: expected a number of lines, got \"" + std::string(*v) + "\"");
    command.lines = *lines;
  } else if (flag == "-h" || flag == "--help") {
    command.verb = Verb::kHelp;
  } else {
    return Usage("unknown flag \"" + std::string(flag) + "\"");
  }
  return {};
}

bool IsFlag(std::string_view arg) { return arg.size() > 1 && arg[0] == '-'; }

}  // namespace

std::string Target::ToString() const {
  if (all) return "all";
  return slot ? pool + ":" + std::to_string(*slot) : pool;
}

std::expected<Target, std::string> ParseTarget(std::string_view text, bool allow_all) {
  if (text == "all") {
    if (!allow_all) return Usage("\"all\" is not accepted here; name a pool");
    return Target{.all = true};
  }
  Target target;
  std::string_view pool = text;
  if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    pool = text.substr(0, colon);
    target.slot = ParseU32(text.substr(colon + 1));
    if (!target.slot) return Usage("expected pool:N with a worker number N, got \"" + std::string(text) + "\"");
  }
  const bool ok = !pool.empty() && pool.size() <= kMaxPoolName &&
                  pool.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
                      std::string_view::npos &&
                  pool.find_first_not_of('.') != std::string_view::npos;
  if (!ok) return Usage("expected a pool name, pool:N or all, got \"" + std::string(text) + "\"");
  target.pool = pool;
  return target;
}

std::optional<Verb> VerbNamed(std::string_view name) {
  for (const VerbInfo& info : kVerbs) {
    if (info.name == name) return info.verb;
  }
  return std::nullopt;
}

std::string_view VerbName(Verb verb) { return InfoOf(verb).name; }

std::expected<Command, std::string> ParseCommandLine(std::span<const std::string_view> args) {
  Command command;
  std::optional<std::string_view> verb_name;
  Args operands;
  bool flags_done = false;
  bool tail_flags = false;
  bool help = false;  // -h anywhere: the verb's usage, not the verb
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (!flags_done && arg == "--") {
      flags_done = true;
    } else if (!flags_done && IsFlag(arg)) {
      std::optional<std::string_view> value;
      if (i + 1 < args.size()) value = args[i + 1];
      bool used_value = false;
      if (auto ok = ParseFlag(arg, value, command, used_value); !ok) return std::unexpected(ok.error());
      if (used_value) ++i;
      tail_flags = tail_flags || arg == "-f" || arg == "--follow" || arg == "-n" || arg == "--lines";
      help = help || arg == "-h" || arg == "--help";
    } else if (!verb_name) {
      verb_name = arg;
    } else {
      operands.push_back(arg);
    }
  }
  if (help) {
    command.verb = Verb::kHelp;
    if (verb_name) command.help_verb = VerbNamed(*verb_name);  // an unknown verb: the overview
    return command;
  }
  if (!verb_name) return command;  // help
  auto verb = VerbNamed(*verb_name);
  if (!verb) return Usage("unknown verb \"" + std::string(*verb_name) + "\" (see supervisorctl help)");
  command.verb = *verb;
  if (command.verb != Verb::kTail && tail_flags) {
    return Usage("-f and -n belong to tail");
  }
  if (auto ok = InfoOf(command.verb).parse(operands, command); !ok) return std::unexpected(ok.error());
  return command;
}

std::string HelpText(std::optional<Verb> verb) {
  if (verb) {
    const VerbInfo& info = InfoOf(*verb);
    return "usage: supervisorctl [flags] " + std::string(info.usage) + "\n  " + std::string(info.summary) + "\n";
  }
  std::string text =
      "usage: supervisorctl [-s SOCKET | -c CONFIG] [--json] [--timeout DURATION] <verb> [args]\n\n"
      "verbs:\n";
  for (const VerbInfo& info : kVerbs) {
    if (info.verb == Verb::kPools) continue;
    std::string line = "  " + std::string(info.usage);
    line.resize(std::max<std::size_t>(line.size() + 2, 46), ' ');
    text += line + std::string(info.summary) + "\n";
  }
  text +=
      "\nflags:\n"
      "  -s, --socket PATH    the daemon's control socket\n"
      "  -c, --config FILE    read supervisor.control_socket from FILE\n"
      "  --json               print the daemon's JSON\n"
      "  --timeout DURATION   how long to wait (500ms, 10s, 2m)\n\n"
      "Without -s or -c: $SUPERVISOR_SOCKET, $SUPERVISOR_CONFIG, then ./pools.yaml.\n"
      "A pool name means every worker of it, pool:N one worker, all every pool.\n"
      "Exit codes: 0 ok, 1 failed, 2 usage, 3 (status) not all running, 4 unknown name or no daemon.\n";
  return text;
}

std::vector<std::string_view> VisibleVerbNames() {
  std::vector<std::string_view> names;
  for (const VerbInfo& info : kVerbs) {
    if (info.verb != Verb::kPools) names.push_back(info.name);
  }
  return names;
}

}  // namespace sv::ctl
