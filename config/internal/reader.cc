// Reader: typed reads of YAML nodes with problems collected, merge keys, duplicates.
#include "config/internal/reader.h"

#include <map>
#include <utility>

#include "config/internal/text.h"
#include "config/units.h"

namespace sv::config::internal {
namespace {

// What a node is, for "expected X, got <kind>".
std::string KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string Got(std::string_view text) { return ", got " + Quote(text); }

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string PositionText(SourcePosition at) { return std::to_string(at.line) + ":" + std::to_string(at.column); }

bool IsMergeKey(const YAML::Node& key) { return key.IsScalar() && key.Scalar() == "<<" && key.Tag() == "?"; }

}  // namespace

SourcePosition PositionOf(const YAML::Mark& mark) {
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

Reader::Reader(std::string file, std::filesystem::path base_dir)
    : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

void Reader::Problem(SourcePosition at, std::string path, std::string message) {
  problems_.push_back({file_, at, std::move(path), std::move(message)});
}

std::optional<std::string> Reader::Scalar(const Entry& e, std::string_view expected) {
  if (e.value.IsScalar()) return e.value.Scalar();
  Problem(e, "expected " + std::string(expected) + ", got " + KindOf(e.value));
  return std::nullopt;
}

std::optional<std::uint64_t> Reader::Integer(const Entry& e, std::uint64_t min, std::uint64_t max) {
  const std::string noun = min == 0 ? "a non-negative integer" : min == 1 ? "a positive integer" : "an integer";
  auto text = Scalar(e, noun);
  if (!text) return std::nullopt;
  const bool digits = !text->empty() && text->find_first_not_of("0123456789") == std::string::npos;
  auto value = ParseUnsigned(*text);  // with digits only, fails only on overflow
  if (!digits) {
    Problem(e, "expected " + noun + Got(*text));
  } else if (!value || *value > max) {
    Problem(e, "expected at most " + std::to_string(max) + Got(*text));
  } else if (*value < min) {
    Problem(e, "expected " + (min == 1 ? noun : "at least " + std::to_string(min)) + Got(*text));
  } else {
    return *value;
  }
  return std::nullopt;
}

std::optional<std::chrono::nanoseconds> Reader::Duration(const Entry& e, std::chrono::nanoseconds min,
                                                         std::chrono::nanoseconds max) {
  auto text = Scalar(e, "a duration");
  if (!text) return std::nullopt;
  auto value = ParseDuration(*text);
  if (!value) {
    Problem(e, value.error());
  } else if (*value < min) {
    const bool positive = min == std::chrono::nanoseconds(1);
    Problem(e, "expected " + (positive ? "a positive duration" : "at least " + FormatDuration(min)) + Got(*text));
  } else if (*value > max) {
    Problem(e, "expected at most " + FormatDuration(max) + Got(*text));
  } else {
    return *value;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> Reader::Size(const Entry& e, std::uint64_t min, std::uint64_t max) {
  auto text = Scalar(e, "a size");
  if (!text) return std::nullopt;
  auto value = ParseSize(*text);
  if (!value) {
    Problem(e, value.error());
  } else if (*value < min) {
    Problem(e, "expected " + (min == 1 ? "a positive size" : "at least " + FormatSize(min)) + Got(*text));
  } else if (*value > max) {
    Problem(e, "expected at most " + FormatSize(max) + Got(*text));
  } else {
    return *value;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> Reader::Percent(const Entry& e) {
  auto text = Scalar(e, "a percentage");
  if (!text) return std::nullopt;
  auto value = ParsePercent(*text);
  if (value) return *value;
  Problem(e, value.error());
  return std::nullopt;
}

std::optional<bool> Reader::Bool(const Entry& e) {
  auto text = Scalar(e, "true or false");
  if (!text) return std::nullopt;
  if (*text == "true" || *text == "True" || *text == "TRUE") return true;
  if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  Problem(e, "expected true or false" + Got(*text));
  return std::nullopt;
}

std::optional<std::string> Reader::String(const Entry& e) {
  auto text = Scalar(e, "a string");
  if (text && text->empty()) {
    Problem(e, "expected a non-empty string, got \"\"");
    return std::nullopt;
  }
  return text;
}

std::optional<std::filesystem::path> Reader::Path(const Entry& e) {
  auto text = Scalar(e, "a path");
  if (!text) return std::nullopt;
  if (text->empty() || text->find('\0') != std::string::npos) {
    Problem(e, "expected a path" + Got(*text));
    return std::nullopt;
  }
  return (base_dir_ / *text).lexically_normal();
}

std::optional<std::size_t> Reader::Choice(const Entry& e, std::span<const std::string_view> names) {
  const std::string expected = "one of " + JoinNames(names);
  auto text = Scalar(e, expected);
  if (!text) return std::nullopt;
  auto it = std::ranges::find(names, *text);
  if (it != names.end()) return static_cast<std::size_t>(it - names.begin());
  Problem(e, "expected " + expected + Got(*text) + DidYouMean(*text, names));
  return std::nullopt;
}

void Reader::UnknownKey(const Entry& e, std::span<const std::string_view> allowed) {
  Problem(e, "unknown key" + DidYouMean(e.key, allowed));
}

bool Reader::ForEach(const Entry& e, const std::function<void(const Entry&)>& visit) {
  if (e.value.IsNull()) return true;
  if (!e.value.IsMap()) {
    Problem(e, "expected a map, got " + KindOf(e.value));
    return false;
  }
  std::vector<YAML::Node> merges;
  std::vector<RawEntry> own = OwnEntries(e, merges);
  std::vector<RawEntry> all;
  for (const YAML::Node& source : merges) AddMerged(e, source, all);
  // The map's own keys override merged ones.
  std::erase_if(all, [&](const RawEntry& merged) {
    return std::ranges::any_of(own, [&](const RawEntry& o) { return o.key.Scalar() == merged.key.Scalar(); });
  });
  all.insert(all.end(), own.begin(), own.end());
  for (const RawEntry& raw : all) visit(Child(e, raw));
  return true;
}

// The map's entries with scalar keys, duplicates dropped (each a problem); the
// values of merge keys go to `merges`.
std::vector<Reader::RawEntry> Reader::OwnEntries(const Entry& e, std::vector<YAML::Node>& merges) {
  std::vector<RawEntry> out;
  std::map<std::string, SourcePosition> first_at;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    const SourcePosition at = PositionOf(it->first.Mark());
    if (!it->first.IsScalar()) {
      Problem(at, e.path, "expected a string key, got " + KindOf(it->first));
    } else if (IsMergeKey(it->first)) {
      merges.push_back(it->second);
    } else if (auto [seen, inserted] = first_at.emplace(it->first.Scalar(), at); !inserted) {
      Problem(at, JoinPath(e.path, it->first.Scalar()), "duplicate key (first at " + PositionText(seen->second) + ")");
    } else {
      out.push_back({it->first, it->second});
    }
  }
  return out;
}

// Appends the entries of a merge key's value (a map or a list of maps), skipping
// keys already in `out`: in a list, earlier maps win, as YAML specifies. Merge
// keys inside a merged map are not followed (nor can an alias cycle be).
void Reader::AddMerged(const Entry& e, const YAML::Node& source, std::vector<RawEntry>& out, bool in_list) {
  if (source.IsSequence() && !in_list) {
    for (const YAML::Node& item : source) AddMerged(e, item, out, /*in_list=*/true);
    return;
  }
  if (!source.IsMap()) {
    Problem(PositionOf(source.Mark()), e.path, "expected a map or a list of maps to merge, got " + KindOf(source));
    return;
  }
  for (auto it = source.begin(); it != source.end(); ++it) {
    if (!it->first.IsScalar() || IsMergeKey(it->first)) continue;
    const bool taken =
        std::ranges::any_of(out, [&](const RawEntry& o) { return o.key.Scalar() == it->first.Scalar(); });
    if (!taken) out.push_back({it->first, it->second});
  }
}

Entry Reader::Child(const Entry& parent, const RawEntry& raw) const {
  const std::string& key = raw.key.Scalar();
  return {raw.value, key, JoinPath(parent.path, key), PositionOf(raw.key.Mark())};
}

}  // namespace sv::config::internal
