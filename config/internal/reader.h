// Reader: walks a parsed YAML document into typed values and collects every
// problem instead of stopping at the first. Field<T> tables list the keys a map
// allows; ReadFields uses them for unknown-key checks and did-you-mean.
// Private to config/ (the only place yaml-cpp types appear).
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/load.h"

namespace sv::config::internal {

// A map entry being read (or the document root, with an empty key and path).
struct Entry {
  YAML::Node value;
  std::string key;    // "workers"
  std::string path;   // "pools.sqlite.workers"
  SourcePosition at;  // the key's position: problems with the entry point here
};

// 1-based; {0, 0} for yaml-cpp's null mark.
SourcePosition PositionOf(const YAML::Mark& mark);

// Collects the problems of one file. Each reader returns the value, or nullopt
// after recording a problem at the entry. Not thread-safe: one per load.
class Reader {
 public:
  Reader(std::string file, std::filesystem::path base_dir);

  void Problem(SourcePosition at, std::string path, std::string message);
  void Problem(const Entry& e, std::string message) { Problem(e.at, e.path, std::move(message)); }

  // The scalar's text; a map, list or empty value is a problem naming `expected`.
  std::optional<std::string> Scalar(const Entry& e, std::string_view expected);
  // Decimal digits only, within [min, max].
  std::optional<std::uint64_t> Integer(const Entry& e, std::uint64_t min, std::uint64_t max);
  // A duration (config/units.h) within [min, max]; min 0 allows "0".
  std::optional<std::chrono::nanoseconds> Duration(const Entry& e, std::chrono::nanoseconds min,
                                                   std::chrono::nanoseconds max);
  // A size (config/units.h) within [min, max].
  std::optional<std::uint64_t> Size(const Entry& e, std::uint64_t min, std::uint64_t max);
  std::optional<std::uint32_t> Percent(const Entry& e);
  // true/True/TRUE or false/False/FALSE (not YAML 1.1's yes/no/on/off).
  std::optional<bool> Bool(const Entry& e);
  // A non-empty string.
  std::optional<std::string> String(const Entry& e);
  // A non-empty path, resolved against the base folder and lexically normal.
  std::optional<std::filesystem::path> Path(const Entry& e);
  // The index of the value in `names`.
  std::optional<std::size_t> Choice(const Entry& e, std::span<const std::string_view> names);

  // Calls visit(child) for each entry of the map at `e`, in file order, entries
  // merged through YAML merge keys ("<<: *anchor") first unless overridden. An
  // empty value is an empty map. Reports non-maps (returning false), non-scalar
  // keys and duplicate keys (skipping them).
  bool ForEach(const Entry& e, const std::function<void(const Entry&)>& visit);

  // An unknown key, with a did-you-mean from `allowed`.
  void UnknownKey(const Entry& e, std::span<const std::string_view> allowed);

  const std::string& file() const { return file_; }
  const std::filesystem::path& base_dir() const { return base_dir_; }
  std::vector<ConfigProblem> TakeProblems() { return std::move(problems_); }

 private:
  struct RawEntry {
    YAML::Node key;
    YAML::Node value;
  };
  std::vector<RawEntry> OwnEntries(const Entry& e, std::vector<YAML::Node>& merges);
  void AddMerged(const Entry& e, const YAML::Node& source, std::vector<RawEntry>& out, bool in_list = false);
  Entry Child(const Entry& parent, const RawEntry& raw) const;

  std::string file_;
  std::filesystem::path base_dir_;
  std::vector<ConfigProblem> problems_;
};

// A key a map allows and how its value is read into a T. Tables of these are
// the one place each map's keys are listed.
template <class T>
struct Field {
  std::string_view key;
  void (*read)(Reader&, const Entry&, T&);
  bool required = false;
  std::string_view missing_hint = {};  // added to "missing required key" when set
};

// Reads the map at `e` into `out` through `fields`. Unknown keys and missing
// required keys are problems. Returns false when `e` is not a map at all.
template <class T>
bool ReadFields(Reader& r, const Entry& e, std::span<const Field<T>> fields, T& out) {
  std::vector<std::string_view> keys;
  for (const Field<T>& field : fields) keys.push_back(field.key);
  std::vector<bool> seen(fields.size());
  const bool is_map = r.ForEach(e, [&](const Entry& child) {
    auto it = std::ranges::find(keys, child.key);
    if (it == keys.end()) return r.UnknownKey(child, keys);
    const auto index = static_cast<std::size_t>(it - keys.begin());
    seen[index] = true;
    fields[index].read(r, child, out);
  });
  for (std::size_t i = 0; is_map && i < fields.size(); ++i) {
    if (fields[i].required && !seen[i]) {
      r.Problem(e, "missing required key \"" + std::string(keys[i]) + "\"" + std::string(fields[i].missing_hint));
    }
  }
  return is_map;
}

// Sets `out` when `value` holds one.
template <class T, class U>
void Set(T& out, const std::optional<U>& value) {
  if (value) out = static_cast<T>(*value);
}

}  // namespace sv::config::internal
