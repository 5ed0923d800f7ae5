// sv-worker's command line: what ToArguments writes, ParseOptions reads back;
// bad arguments are named.
#include "worker/options.h"

#include <gtest/gtest.h>

#include <vector>

namespace sv::worker {
namespace {

std::expected<Options, Error> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "sv-worker");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(OptionsTest, RoundTripsThroughArguments) {
  Options o;
  o.plugin = "/p/libx.so";
  o.pool = "sqlite";
  o.index = 3;
  o.parent = 42;
  o.tmpdir = "/tmp/x";
  o.config = {{"page_cache", "2MiB"}, {"mode", "a=b"}};
  o.limits.address_space = 1 << 30;
  o.limits.cpu_seconds = 60;
  o.limits.open_files = 256;
  o.spin.budget = std::chrono::microseconds(7);
  o.spin.adaptive = false;
  auto back = Parse(ToArguments(o));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->plugin, o.plugin);
  EXPECT_EQ(back->pool, o.pool);
  EXPECT_EQ(back->index, 3u);
  EXPECT_EQ(back->parent, 42);
  EXPECT_EQ(back->tmpdir, o.tmpdir);
  EXPECT_EQ(back->config, o.config);
  EXPECT_EQ(back->limits.address_space, o.limits.address_space);
  EXPECT_EQ(back->limits.cpu_seconds, 60u);
  EXPECT_EQ(back->limits.open_files, 256u);
  EXPECT_EQ(back->limits.core_size, 0u);
  EXPECT_EQ(back->spin.budget, std::chrono::microseconds(7));
  EXPECT_FALSE(back->spin.adaptive);
}

TEST(OptionsTest, NamesTheBadArgument) {
  auto missing = Parse({"--pool", "p", "--parent", "1"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("--plugin"), std::string::npos);

  auto bad_number = Parse({"--plugin", "x", "--pool", "p", "--parent", "1", "--index", "two"});
  ASSERT_FALSE(bad_number);
  EXPECT_EQ(bad_number.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad_number.error().message().find("--index: expected a non-negative integer, got \"two\""),
            std::string::npos)
      << bad_number.error().message();

  auto too_big = Parse({"--plugin", "x", "--pool", "p", "--parent", "1", "--index", "99999999999"});
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().message().find("--index: 99999999999 is out of range"), std::string::npos)
      << too_big.error().message();

  auto unknown = Parse({"--plugin", "x", "--pool", "p", "--parent", "1", "--frobnicate", "1"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("--frobnicate"), std::string::npos);

  auto no_value = Parse({"--plugin"});
  ASSERT_FALSE(no_value);
  EXPECT_NE(no_value.error().message().find("missing value"), std::string::npos);
}

}  // namespace
}  // namespace sv::worker
