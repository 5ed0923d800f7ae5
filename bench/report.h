// What bench/pools and bench/ctl print: a human table, or with --json one
// {"name", "value", "unit"[, "target", "met"]} object per line. Header-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace sv::bench {

struct Result {
  std::string name, unit;
  double value;
  double limit = 0;  // a target "value <= limit"; 0: none
  bool met() const { return limit == 0 || value <= limit; }
};

class Results {
 public:
  void Add(std::string name, double value, std::string unit, double limit = 0) {
    results_.push_back({std::move(name), std::move(unit), value, limit});
  }
  // Prints every result; whether all targets were met.
  bool Print(bool json) const {
    bool all_met = true;
    if (!json) std::printf("%-44s %12s  %-8s %s\n", "measure", "value", "unit", "target");
    for (const Result& r : results_) {
      all_met = all_met && r.met();
      if (json) {
        const std::string target =
            r.limit > 0 ? ",\"target\":" + std::to_string(r.limit) + ",\"met\":" + (r.met() ? "true" : "false") : "";
        std::printf("{\"name\":\"%s\",\"value\":%.4f,\"unit\":\"%s\"%s}\n", r.name.c_str(), r.value, r.unit.c_str(),
                    target.c_str());
      } else {
        char target[32] = "";
        if (r.limit > 0) std::snprintf(target, sizeof target, "<= %.2f  %s", r.limit, r.met() ? "met" : "MISSED");
        std::printf("%-44s %12.3f  %-8s %s\n", r.name.c_str(), r.value, r.unit.c_str(), target);
      }
    }
    return all_met;
  }

 private:
  std::vector<Result> results_;
};

// The p-quantile (0..1) of `v`, nearest rank; 0 when empty.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

inline double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace sv::bench
