// supervisorctl's command line: verbs, their operands (targets such as
// "zlib:0"), global flags, exit codes and help text. Pure functions; runs in
// the supervisorctl process.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sv::ctl {

// supervisorctl's exit codes (docs/supervisorctl.md). 3 is only `status`'s,
// as in supervisord (LSB "program is not running").
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;      // the operation failed, or a config is wrong
inline constexpr int kExitUsage = 2;       // bad command line, or a value the daemon refused
inline constexpr int kExitNotRunning = 3;  // status: some worker is not READY or BUSY
inline constexpr int kExitUnknown = 4;     // no such pool or worker, or the daemon cannot be reached

// What a verb acts on: every pool, one pool, or one worker of a pool.
struct Target {
  std::string pool;                 // empty when `all`
  std::optional<std::uint32_t> slot;  // set: the worker pool:slot
  bool all = false;

  // "all", "zlib" or "zlib:0": the spelling ParseTarget reads.
  std::string ToString() const;
  bool operator==(const Target&) const = default;
};

// "all", "<pool>" or "<pool>:<slot>". Pool names follow the config's rule (1 to
// 64 of letters, digits, "_", "." and "-"); a slot is a decimal number. `all`
// is refused unless `allow_all`. The error is a sentence for a person.
[[nodiscard]] std::expected<Target, std::string> ParseTarget(std::string_view text, bool allow_all = true);

enum class Verb : std::uint8_t {
  kStatus,
  kStart,
  kStop,
  kRestart,
  kReread,
  kUpdate,
  kScale,
  kSignal,
  kPid,
  kTail,
  kCall,
  kShutdown,
  kVersion,
  kCheckConfig,
  kHelp,
  kPools,  // hidden: pool names (or one pool's pool:N) one per line, for shell completion
};

// The verb spelled `name` ("check-config", "_pools"); nullopt when none is.
std::optional<Verb> VerbNamed(std::string_view name);
std::string_view VerbName(Verb verb);

// One parsed invocation: the global flags and the verb with its operands.
// Only the fields the verb uses are set.
struct Command {
  std::optional<std::string> socket;  // -s PATH
  std::optional<std::string> config;  // -c FILE
  bool json = false;                  // --json
  std::optional<std::chrono::nanoseconds> timeout;  // --timeout DURATION

  Verb verb = Verb::kHelp;
  std::vector<Target> targets;  // status, start, stop, restart, update, signal, pid, scale, tail, call
  std::string signal;           // signal: as typed ("HUP", "SIGTERM", "9")
  std::uint32_t workers = 0;    // scale
  bool follow = false;          // tail -f
  std::uint32_t lines = 10;     // tail -n
  std::string stream = "stdout";  // tail: stdout or stderr
  std::string method;           // call
  std::optional<std::string> input;  // call: DATA, "@file" or "-" as typed; unset: empty input
  std::string file;             // check-config
  std::optional<Verb> help_verb;  // help VERB
};

// Parses the arguments after the program name. Flags may come before or after
// the verb; "--" ends them. No arguments at all means `help`. The error is the
// usage problem for a person (exit kExitUsage).
[[nodiscard]] std::expected<Command, std::string> ParseCommandLine(std::span<const std::string_view> args);

// The help text: the overview without a verb, else the verb's usage and meaning.
std::string HelpText(std::optional<Verb> verb);

// Verbs shell completion offers, in help order (the hidden `_pools` left out).
std::vector<std::string_view> VisibleVerbNames();

}  // namespace sv::ctl
