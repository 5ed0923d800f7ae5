#include "worker/options.h"

#include <charconv>
#include <limits>
#include <string_view>

namespace sv::worker {
namespace {

std::unexpected<Error> Bad(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

std::expected<std::uint64_t, Error> Number(std::string_view flag, std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Bad(std::string(flag) + ": expected a non-negative integer, got \"" + std::string(text) + "\"");
  }
  return value;
}

// Applies one flag with its value; `value` is empty for --spin-fixed.
Status Apply(Options& o, std::string_view flag, std::string_view value) {
  // Parses into `out`, refusing values its type cannot hold.
  auto number = [&](auto& out) -> Status {
    using T = std::remove_reference_t<decltype(out)>;
    auto n = Number(flag, value);
    if (!n) return std::unexpected(n.error());
    if (*n > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      return Bad(std::string(flag) + ": " + std::string(value) + " is out of range");
    }
    out = static_cast<T>(*n);
    return {};
  };
  if (flag == "--plugin") o.plugin = value;
  else if (flag == "--pool") o.pool = value;
  else if (flag == "--tmpdir") o.tmpdir = value;
  else if (flag == "--index") return number(o.index);
  else if (flag == "--parent") return number(o.parent);
  else if (flag == "--limit-as") return number(o.limits.address_space.emplace());
  else if (flag == "--limit-cpu") return number(o.limits.cpu_seconds.emplace());
  else if (flag == "--limit-nofile") return number(o.limits.open_files.emplace());
  else if (flag == "--limit-core") return number(o.limits.core_size);
  else if (flag == "--spin-ns") {
    std::int64_t ns = 0;
    if (Status s = number(ns); !s) return s;
    o.spin.budget = std::chrono::nanoseconds(ns);
  } else if (flag == "--config") {
    std::size_t eq = value.find('=');
    if (eq == std::string_view::npos || eq == 0) return Bad("--config: expected KEY=VALUE, got \"" + std::string(value) + "\"");
    o.config.emplace_back(std::string(value.substr(0, eq)), std::string(value.substr(eq + 1)));
  } else {
    return Bad("unknown argument \"" + std::string(flag) + "\"");
  }
  return {};
}

}  // namespace

std::expected<Options, Error> ParseOptions(int argc, const char* const* argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--spin-fixed") {
      o.spin.adaptive = false;
      continue;
    }
    if (flag == "--notify" || flag == "--zygote") {
      (flag == "--notify" ? o.notify : o.zygote) = true;
      continue;
    }
    if (i + 1 >= argc) return Bad(std::string(flag) + ": missing value");
    if (Status s = Apply(o, flag, argv[++i]); !s) return std::unexpected(s.error());
  }
  if (o.plugin.empty()) return Bad("--plugin is required");
  if (o.pool.empty()) return Bad("--pool is required");
  if (o.parent <= 0) return Bad("--parent is required");
  return o;
}

std::vector<std::string> ToArguments(const Options& o) {
  std::vector<std::string> args = {"--plugin", o.plugin, "--pool", o.pool, "--index", std::to_string(o.index),
                                   "--parent", std::to_string(o.parent)};
  auto add = [&](const char* flag, const std::string& value) {
    args.push_back(flag);
    args.push_back(value);
  };
  if (!o.tmpdir.empty()) add("--tmpdir", o.tmpdir);
  for (const auto& [key, value] : o.config) add("--config", key + "=" + value);
  if (o.limits.address_space) add("--limit-as", std::to_string(*o.limits.address_space));
  if (o.limits.cpu_seconds) add("--limit-cpu", std::to_string(*o.limits.cpu_seconds));
  if (o.limits.open_files) add("--limit-nofile", std::to_string(*o.limits.open_files));
  add("--limit-core", std::to_string(o.limits.core_size));
  add("--spin-ns", std::to_string(o.spin.budget.count()));
  if (!o.spin.adaptive) args.push_back("--spin-fixed");
  if (o.notify) args.push_back("--notify");
  if (o.zygote) args.push_back("--zygote");
  return args;
}

}  // namespace sv::worker
