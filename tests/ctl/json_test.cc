// ctl/internal/json.h: every JSON form the daemon writes, escapes and
// surrogate pairs, the errors for broken text, and Write reading back.
#include "ctl/internal/json.h"

#include <gtest/gtest.h>

namespace sv::ctl::internal {
namespace {

TEST(ParseJsonTest, ReadsEveryKindOfValue) {
  auto json = ParseJson(R"( {"s": "x", "i": -42, "d": 1.5e3, "t": true, "f": false, "n": null,
                             "a": [1, "two", []], "o": {"k": {}}} )");
  ASSERT_TRUE(json) << json.error();
  EXPECT_EQ(json->StringOr("s"), "x");
  EXPECT_EQ(json->IntOr("i"), -42);
  EXPECT_FALSE(json->Find("d")->integral);
  EXPECT_EQ(json->Find("d")->number, 1500);
  EXPECT_TRUE(json->Find("t")->boolean);
  EXPECT_EQ(json->Find("f")->type, Json::Type::kBool);
  EXPECT_EQ(json->Find("n")->type, Json::Type::kNull);
  ASSERT_EQ(json->ItemsOf("a").size(), 3u);
  EXPECT_EQ(json->ItemsOf("a")[1].string, "two");
  EXPECT_EQ(json->Find("o")->Find("k")->type, Json::Type::kObject);
}

TEST(ParseJsonTest, TypedReadsFallBack) {
  auto json = ParseJson(R"({"s": 1, "i": "1", "big": 99999999999999999999})");
  EXPECT_EQ(json->StringOr("s", "none"), "none");
  EXPECT_EQ(json->IntOr("i", -1), -1);
  EXPECT_EQ(json->IntOr("big", -1), -1);
  EXPECT_EQ(json->IntOr("missing", 7), 7);
  EXPECT_TRUE(json->ItemsOf("s").empty());
}

TEST(ParseJsonTest, DecodesEscapesAndSurrogatePairs) {
  auto json = ParseJson(R"("a\"b\\c\/\n\t\u00e9\u20ac\ud83d\ude00")");
  ASSERT_TRUE(json) << json.error();
  EXPECT_EQ(json->string, "a\"b\\c/\n\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

TEST(ParseJsonTest, RejectsBrokenTextNamingTheOffset) {
  EXPECT_EQ(ParseJson(R"({"a": })").error(), "invalid JSON at byte 6: unexpected character");
  EXPECT_EQ(ParseJson(R"({"a": 1} x)").error(), "invalid JSON at byte 9: unexpected text after the value");
  EXPECT_FALSE(ParseJson(R"({"a" 1})"));
  EXPECT_FALSE(ParseJson(R"([1, 2)"));
  EXPECT_FALSE(ParseJson(R"("open)"));
  EXPECT_FALSE(ParseJson(R"("\x")"));
  EXPECT_FALSE(ParseJson(R"("\u12")"));
  EXPECT_FALSE(ParseJson(""));
  EXPECT_FALSE(ParseJson("-"));
  EXPECT_FALSE(ParseJson(std::string(300, '[') + std::string(300, ']')));
}

TEST(JsonWriteTest, ReadsBackEqualInDocumentOrder) {
  const std::string text = R"({"z":1,"a":[true,null,"q\"\n"],"m":{"x":-2,"y":0.25}})";
  auto json = ParseJson(text);
  ASSERT_TRUE(json);
  EXPECT_EQ(json->Write(), text);
}

TEST(QuoteTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Quote("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
}

}  // namespace
}  // namespace sv::ctl::internal
