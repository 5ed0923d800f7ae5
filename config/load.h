// Loading pools.yaml: parse, check every value, resolve relative paths against
// the file's folder, and report every problem with file:line:column and key
// path. Runs in the trusted process; never throws (yaml-cpp stays inside).
#pragma once

#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "config/schema.h"

namespace sv::config {

// One thing wrong with a config file.
struct ConfigProblem {
  std::string file;         // the path as the user gave it
  SourcePosition position;  // {0, 0}: the file as a whole
  std::string key_path;     // "pools.sqlite.workers"; empty: the file or document
  std::string message;

  // `pools.yaml:7:5: pools.sqlite.workers: expected a positive integer, got "two"`;
  // the position and key path are left out when unknown.
  std::string ToString() const;
  bool operator==(const ConfigProblem&) const = default;
};

// Everything wrong with a config file, in file order (whole-file problems first).
struct ConfigError {
  std::vector<ConfigProblem> problems;  // never empty
  int sys_errno = 0;                    // why the file could not be read, else 0

  // One problem per line, no trailing newline.
  std::string ToString() const;
  // As an sv::Error: code kBadConfig; a file that could not be read carries its
  // errno ("pools.yaml: cannot read: No such file or directory (errno 2)").
  Error ToError() const;
};

// Reads and checks the file at `path`. Relative paths inside resolve against the
// file's folder (made absolute), so the result does not depend on the working
// directory later. Checks each plugin file exists (see Validate). Problems name
// the file as `path` spells it. A file that cannot be read (missing, a folder,
// over 16 MiB) is one problem, "cannot read: <strerror>", with sys_errno set.
[[nodiscard]] std::expected<Config, ConfigError> LoadFile(const std::filesystem::path& path);

// As LoadFile, from text: `display_name` names the file in problems; relative
// paths resolve against `base_dir`, which should be absolute.
[[nodiscard]] std::expected<Config, ConfigError> LoadString(std::string_view yaml, std::string_view display_name,
                                                            const std::filesystem::path& base_dir);

// A deeper check of one pool's plugin, e.g. loading it in a real sv-worker:
// nullopt when it is fine, else what is wrong ("init failed: no such table").
using PluginProbe = std::function<std::optional<std::string>(const PoolConfig&)>;

// Checks that each pool's plugin is an existing regular file and, if `probe` is
// set, asks it about each pool whose file exists, one pool at a time in name
// order (blocks as long as the probe does). Problems sit at the position of the
// `plugin` value, key path `pools.<name>.plugin`. LoadFile and LoadString have
// already run the file check; call this again to probe, or to re-check later.
[[nodiscard]] std::expected<void, ConfigError> Validate(const Config& config, const PluginProbe& probe = {});

}  // namespace sv::config
