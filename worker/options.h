// sv-worker's command line: what the trusted side tells a worker at start.
// Parsed in the worker process before anything else happens.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "ipc/spin.h"

namespace sv::worker {

// s6-style exit codes (STYLE.md): what the supervisor's restart policy reads.
inline constexpr int kExitOk = 0;          // graceful stop
inline constexpr int kExitPermanent = 100; // bad arguments, plugin cannot load, ABI mismatch
inline constexpr int kExitBug = 101;       // a bug in sv-worker
inline constexpr int kExitTemporary = 111; // restarting may help

// Where sv-worker finds its ready notification eventfd when started with
// --notify: it writes 1 to it after answering the hello (ready or init
// failed), so a supervisor can wait for many starting workers in one epoll.
inline constexpr int kNotifyFd = 5;

// A zygote's control socket (SOCK_SEQPACKET), in place of the channel.
inline constexpr int kZygoteFd = 3;

struct Limits {
  std::optional<std::uint64_t> address_space;  // RLIMIT_AS, bytes
  std::optional<std::uint64_t> cpu_seconds;    // RLIMIT_CPU
  std::optional<std::uint64_t> open_files;     // RLIMIT_NOFILE
  std::uint64_t core_size = 0;                 // RLIMIT_CORE, bytes; no core files by default
};

struct Options {
  std::string plugin;  // path of the plugin's shared object
  std::string pool;
  std::uint32_t index = 0;
  pid_t parent = 0;     // the trusted process; the worker exits if it is not its parent
  std::string tmpdir;   // private TMPDIR to create (mode 0700); empty: none
  std::vector<std::pair<std::string, std::string>> config;  // plugin_config, in order
  Limits limits;
  ipc::SpinOptions spin;
  bool notify = false;  // kNotifyFd is an eventfd to write to once the hello is answered
  bool zygote = false;  // load the plugin, then fork workers on request (worker/zygote.h)
};

// Parses argv. kInvalidArgument naming the bad argument. Usage (all values
// are single arguments; sizes in bytes, times in seconds or nanoseconds):
//   sv-worker --plugin PATH --pool NAME --index N --parent PID
//             [--tmpdir PATH] [--config KEY=VALUE]...
//             [--limit-as BYTES] [--limit-cpu SECONDS] [--limit-nofile N] [--limit-core BYTES]
//             [--spin-ns N] [--spin-fixed] [--notify] [--zygote]
[[nodiscard]] std::expected<Options, Error> ParseOptions(int argc, const char* const* argv);

// The argv that ParseOptions reads back into `options` (without argv[0]).
std::vector<std::string> ToArguments(const Options& options);

}  // namespace sv::worker
