// config/internal/text.h: quoting, edit distance and the did-you-mean rule.
#include "config/internal/text.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace sv::config::internal {
namespace {

constexpr std::array<std::string_view, 5> kKeys = {"workers", "spare_workers", "call_timeout", "start_timeout", "env"};

TEST(QuoteTest, EscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(Quote("two"), "\"two\"");
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote(std::string("\n\t\x01\x7f", 4)), "\"\\n\\t\\x01\\x7f\"");
  EXPECT_EQ(Quote(std::string(1, '\0')), "\"\\x00\"");
}

TEST(QuoteTest, CutsLongValues) { EXPECT_EQ(Quote(std::string(100, 'x')), "\"" + std::string(80, 'x') + "...\""); }

TEST(EditDistanceTest, CountsEditsAndSwapsIgnoringCase) {
  EXPECT_EQ(EditDistance("call_timout", "call_timeout"), 1u);
  EXPECT_EQ(EditDistance("wokrers", "workers"), 1u);  // a swap is one edit
  EXPECT_EQ(EditDistance("Workers", "workers"), 0u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(SuggestTest, FindsTyposWithinTwoEdits) {
  EXPECT_EQ(Suggest("call_timout", kKeys), "call_timeout");
  EXPECT_EQ(Suggest("call-timeout", kKeys), "call_timeout");
  EXPECT_EQ(Suggest("wrkrs", kKeys), "workers");
  EXPECT_EQ(Suggest("envv", kKeys), "env");
}

TEST(SuggestTest, PrefersTheClosestCandidate) {
  EXPECT_EQ(Suggest("spare_worker", kKeys), "spare_workers");
  EXPECT_EQ(Suggest("worker", kKeys), "workers");
}

TEST(SuggestTest, SuggestsNothingForDistantOrShortWords) {
  EXPECT_EQ(Suggest("colour", kKeys), std::nullopt);
  EXPECT_EQ(Suggest("x", kKeys), std::nullopt);
  EXPECT_EQ(Suggest("eat", std::array<std::string_view, 1>{"env"}), std::nullopt);  // 2 edits of 3 bytes
}

TEST(SuggestTest, CompletesAnAbbreviationOfExactlyOneCandidate) {
  constexpr std::array<std::string_view, 3> kLevels = {"information", "warning", "error"};
  EXPECT_EQ(Suggest("info", kLevels), "information");
  EXPECT_EQ(Suggest("warn", kLevels), "warning");
  EXPECT_EQ(Suggest("st", kKeys), std::nullopt);  // too short to tell
  EXPECT_EQ(Suggest("sta", std::array<std::string_view, 2>{"start_a", "start_b"}), std::nullopt);
}

TEST(DidYouMeanTest, FormatsTheSuggestionOrNothing) {
  EXPECT_EQ(DidYouMean("call_timout", kKeys), " (did you mean \"call_timeout\"?)");
  EXPECT_EQ(DidYouMean("colour", kKeys), "");
}

}  // namespace
}  // namespace sv::config::internal
