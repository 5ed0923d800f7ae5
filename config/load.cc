// LoadFile, LoadString and Validate: yaml-cpp is called, and its exceptions
// caught, only here and in internal/.
#include "config/load.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "base/io.h"
#include "base/unique_fd.h"
#include "config/internal/read_config.h"
#include "config/internal/reader.h"

namespace sv::config {
namespace {

constexpr std::size_t kMaxFileSize = 16 << 20;

// The whole file, or the errno that stopped reading it (EFBIG when too large).
std::expected<std::string, int> ReadWholeFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::unexpected(errno);
  std::string text;
  char buf[1 << 16];
  for (;;) {
    auto n = ReadSome(fd.get(), std::as_writable_bytes(std::span(buf)));
    if (!n) return std::unexpected(n.error().sys_errno());
    if (*n == 0) return text;
    if (text.size() + *n > kMaxFileSize) return std::unexpected(EFBIG);
    text.append(buf, *n);
  }
}

// Parses the YAML text into a document; a syntax error, or more than one
// document, is a problem.
std::optional<YAML::Node> ParseYaml(internal::Reader& r, std::string_view yaml) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    r.Problem(internal::PositionOf(e.mark), "", "invalid YAML: " + e.msg);
    return std::nullopt;
  }
  if (documents.empty()) return YAML::Node();  // an empty file: a null document
  if (documents.size() > 1) {
    r.Problem(internal::PositionOf(documents[1].Mark()), "",
              "expected one YAML document, found " + std::to_string(documents.size()));
    return std::nullopt;
  }
  return documents[0];
}

// Appends the problems with `pool`'s plugin: the file first, then the probe.
void CheckPlugin(const Config& config, const PoolConfig& pool, const PluginProbe& probe,
                 std::vector<ConfigProblem>& out) {
  auto add = [&](std::string message) {
    out.push_back({config.path, pool.plugin_position, "pools." + pool.name + ".plugin", std::move(message)});
  };
  std::error_code ec;
  const auto status = std::filesystem::status(pool.plugin, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
    return add("cannot access " + pool.plugin.native() + ": " + ec.message());
  }
  if (!std::filesystem::exists(status)) return add("no such file: " + pool.plugin.native());
  if (!std::filesystem::is_regular_file(status)) return add("not a regular file: " + pool.plugin.native());
  if (!probe) return;
  if (auto problem = probe(pool)) add(std::move(*problem));
}

void CheckPlugins(const Config& config, const PluginProbe& probe, std::vector<ConfigProblem>& out) {
  for (const auto& [name, pool] : config.pools) {
    if (!pool.plugin.empty()) CheckPlugin(config, pool, probe, out);  // empty: already a problem
  }
}

// Whole-file problems first, then by position; equal positions keep their order.
ConfigError Sorted(std::vector<ConfigProblem> problems) {
  std::ranges::stable_sort(problems, [](const ConfigProblem& a, const ConfigProblem& b) {
    return std::pair(a.position.line, a.position.column) < std::pair(b.position.line, b.position.column);
  });
  return ConfigError{std::move(problems)};
}

std::expected<Config, ConfigError> Load(internal::Reader& r, std::string_view yaml) {
  auto root = ParseYaml(r, yaml);
  if (!root) return std::unexpected(Sorted(r.TakeProblems()));
  Config config;
  try {
    config = internal::ReadConfig(r, *root);
  } catch (const YAML::Exception& e) {  // cannot happen: nodes are only read as what they are
    r.Problem(internal::PositionOf(e.mark), "", "internal error reading YAML: " + e.msg);
  }
  std::vector<ConfigProblem> problems = r.TakeProblems();
  CheckPlugins(config, {}, problems);
  if (!problems.empty()) return std::unexpected(Sorted(std::move(problems)));
  return config;
}

}  // namespace

std::string ConfigProblem::ToString() const {
  std::string out = file;
  if (position.line > 0) out += ":" + std::to_string(position.line) + ":" + std::to_string(position.column);
  out += ": ";
  if (!key_path.empty()) out += key_path + ": ";
  return out + message;
}

std::string ConfigError::ToString() const {
  std::string out;
  for (const ConfigProblem& problem : problems) {
    if (!out.empty()) out += '\n';
    out += problem.ToString();
  }
  return out;
}

Error ConfigError::ToError() const {
  if (sys_errno != 0 && !problems.empty())
    return Error(ErrorCode::kBadConfig, problems[0].file + ": cannot read", sys_errno);
  return Error(ErrorCode::kBadConfig, ToString());
}

std::expected<Config, ConfigError> LoadFile(const std::filesystem::path& path) {
  auto text = ReadWholeFile(path);
  if (!text) {
    ConfigProblem problem{path.native(), {}, "", "cannot read: " + std::generic_category().message(text.error())};
    return std::unexpected(ConfigError{{std::move(problem)}, text.error()});
  }
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) absolute = path;  // no working directory: paths stay relative to it
  return LoadString(*text, path.native(), absolute.parent_path());
}

std::expected<Config, ConfigError> LoadString(std::string_view yaml, std::string_view display_name,
                                              const std::filesystem::path& base_dir) {
  internal::Reader r(std::string(display_name), base_dir);
  return Load(r, yaml);
}

std::expected<void, ConfigError> Validate(const Config& config, const PluginProbe& probe) {
  std::vector<ConfigProblem> problems;
  CheckPlugins(config, probe, problems);
  if (!problems.empty()) return std::unexpected(Sorted(std::move(problems)));
  return {};
}

}  // namespace sv::config
