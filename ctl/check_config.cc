// check-config: config::LoadFile, config::Validate with the plugin probe.
#include "ctl/check_config.h"

#include "config/load.h"
#include "ctl/commands.h"
#include "ctl/verbs.h"
#include "supervisor/probe.h"

namespace sv::ctl {
namespace {

std::string ProblemJson(const config::ConfigProblem& problem) {
  return "{\"file\": " + JsonQuote(problem.file) + ", \"line\": " + std::to_string(problem.position.line) +
         ", \"column\": " + std::to_string(problem.position.column) + ", \"key\": " + JsonQuote(problem.key_path) +
         ", \"message\": " + JsonQuote(problem.message) + "}";
}

int Report(const std::string& file, const std::expected<void, config::ConfigError>& result, bool json,
           std::ostream& out, std::ostream& err) {
  if (json) {
    std::string problems;
    if (!result) {
      for (const auto& problem : result.error().problems) {
        problems += (problems.empty() ? "" : ", ") + ProblemJson(problem);
      }
    }
    out << "{\"file\": " << JsonQuote(file) << ", \"ok\": " << (result ? "true" : "false") << ", \"problems\": ["
        << problems << "]}\n";
  } else if (result) {
    out << file << ": ok\n";
  } else {
    err << result.error().ToString() << "\n";
  }
  return result ? kExitOk : kExitFailed;
}

}  // namespace

int CheckConfig(const std::string& file, const std::string& worker_path, bool json, std::ostream& out,
                std::ostream& err) {
  auto config = config::LoadFile(file);
  if (!config) return Report(file, std::unexpected(config.error()), json, out, err);
  if (worker_path.empty()) return Report(file, {}, json, out, err);
  return Report(file, config::Validate(*config, supervisor::PluginProbeFor(worker_path)), json, out, err);
}

}  // namespace sv::ctl
