// Text helpers for config/ messages: quoting values and suggesting a close key.
// Pure functions; used in the trusted process only.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sv::config::internal {

// `text` in double quotes, with `"`, `\` and control bytes escaped, cut to 80
// bytes ("...") so one bad value cannot flood a message.
std::string Quote(std::string_view text);

// Optimal string alignment distance: insertions, deletions, substitutions and
// swaps of neighbours each cost 1. Compares bytes, ASCII case-insensitively.
std::size_t EditDistance(std::string_view a, std::string_view b);

// The first of `candidates` closest to `word`, if close enough to be a typo:
// at most 2 edits, and fewer than half of the candidate's length. Failing that,
// the only candidate that `word` (3 bytes or more) is a prefix of ("info").
std::optional<std::string_view> Suggest(std::string_view word, std::span<const std::string_view> candidates);

// " (did you mean "x"?)" when Suggest finds one, else "".
std::string DidYouMean(std::string_view word, std::span<const std::string_view> candidates);

// "a, b, c": the candidates joined for a message.
std::string JoinNames(std::span<const std::string_view> names);

}  // namespace sv::config::internal
