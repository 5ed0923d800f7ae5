// Quoting, edit distance and did-you-mean for config/ messages.
#include "config/internal/text.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <vector>

namespace sv::config::internal {
namespace {

constexpr std::size_t kMaxQuoted = 80;

void AppendEscaped(std::string& out, char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (c == '"' || c == '\\') {
    out += '\\';
    out += c;
  } else if (c == '\n') {
    out += "\\n";
  } else if (c == '\t') {
    out += "\\t";
  } else if (byte < 0x20 || byte == 0x7f) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", byte);
    out += hex;
  } else {
    out += c;
  }
}

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, kMaxQuoted)) AppendEscaped(out, c);
  if (text.size() > kMaxQuoted) out += "...";
  return out + "\"";
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  // d[i][j]: distance between the first i bytes of a and the first j of b.
  const std::size_t width = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * width);
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * width + j]; };
  for (std::size_t i = 0; i <= a.size(); ++i) at(i, 0) = i;
  for (std::size_t j = 0; j <= b.size(); ++j) at(0, j) = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && Lower(a[i - 1]) == Lower(b[j - 2]) && Lower(a[i - 2]) == Lower(b[j - 1])) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(a.size(), b.size());
}

std::optional<std::string_view> Suggest(std::string_view word, std::span<const std::string_view> candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;  // only 1 or 2 edits count as a typo
  for (std::string_view candidate : candidates) {
    const std::size_t distance = EditDistance(word, candidate);
    if (distance < best_distance && 2 * distance < candidate.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best || word.size() < 3) return best;
  // No typo: maybe an abbreviation of exactly one candidate ("info").
  for (std::string_view candidate : candidates) {
    if (!candidate.starts_with(word)) continue;
    if (best) return std::nullopt;
    best = candidate;
  }
  return best;
}

std::string DidYouMean(std::string_view word, std::span<const std::string_view> candidates) {
  auto suggestion = Suggest(word, candidates);
  if (!suggestion) return "";
  return " (did you mean " + Quote(*suggestion) + "?)";
}

std::string JoinNames(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace sv::config::internal
