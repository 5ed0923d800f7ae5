// ctl/commands.h: targets (pool, pool:N, all), flags anywhere, each verb's
// operands, --timeout durations, and the usage errors a person sees.
#include "ctl/commands.h"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>

namespace sv::ctl {
namespace {

std::expected<Command, std::string> Parse(std::initializer_list<std::string_view> args) {
  return ParseCommandLine(std::span<const std::string_view>(args.begin(), args.size()));
}

std::string ErrorOf(const std::expected<Command, std::string>& result) {
  return result ? "(no error)" : result.error();
}

TEST(ParseTargetTest, ReadsPoolWorkerAndAll) {
  EXPECT_EQ(ParseTarget("zlib"), (Target{.pool = "zlib"}));
  EXPECT_EQ(ParseTarget("zlib:0"), (Target{.pool = "zlib", .slot = 0}));
  EXPECT_EQ(ParseTarget("my-pool.v2:17"), (Target{.pool = "my-pool.v2", .slot = 17}));
  EXPECT_EQ(ParseTarget("all"), (Target{.all = true}));
}

TEST(ParseTargetTest, SpellsBackWhatItReads) {
  for (std::string_view text : {"zlib", "zlib:3", "all"}) EXPECT_EQ(ParseTarget(text)->ToString(), text);
}

TEST(ParseTargetTest, RejectsBadSlotsAndNames) {
  EXPECT_EQ(ParseTarget("zlib:").error(), "expected pool:N with a worker number N, got \"zlib:\"");
  EXPECT_FALSE(ParseTarget("zlib:x"));
  EXPECT_FALSE(ParseTarget("zlib:-1"));
  EXPECT_FALSE(ParseTarget("zlib:99999999999"));
  EXPECT_EQ(ParseTarget("").error(), "expected a pool name, pool:N or all, got \"\"");
  EXPECT_FALSE(ParseTarget(":0"));
  EXPECT_FALSE(ParseTarget("a/b"));
  EXPECT_FALSE(ParseTarget(".."));
  EXPECT_FALSE(ParseTarget(std::string(65, 'a')));
  EXPECT_TRUE(ParseTarget(std::string(64, 'a')));
}

TEST(ParseTargetTest, RefusesAllWhereOnlyAPoolFits) {
  EXPECT_EQ(ParseTarget("all", false).error(), "\"all\" is not accepted here; name a pool");
}

TEST(ParseCommandLineTest, NoArgumentsIsHelp) {
  auto command = Parse({});
  ASSERT_TRUE(command);
  EXPECT_EQ(command->verb, Verb::kHelp);
}

TEST(ParseCommandLineTest, ReadsFlagsBeforeAndAfterTheVerb) {
  auto command = Parse({"-s", "/run/sv.sock", "status", "--json", "zlib:1", "--timeout", "500ms", "echo"});
  ASSERT_TRUE(command) << command.error();
  EXPECT_EQ(command->verb, Verb::kStatus);
  EXPECT_EQ(command->socket, "/run/sv.sock");
  EXPECT_TRUE(command->json);
  EXPECT_EQ(command->timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(command->targets, (std::vector<Target>{{.pool = "zlib", .slot = 1}, {.pool = "echo"}}));
}

TEST(ParseCommandLineTest, ReadsLongFlagsAndConfig) {
  auto command = Parse({"--config", "pools.yaml", "--socket", "x.sock", "version"});
  ASSERT_TRUE(command);
  EXPECT_EQ(command->config, "pools.yaml");
  EXPECT_EQ(command->socket, "x.sock");
}

TEST(ParseCommandLineTest, TimeoutTakesConfigDurations) {
  EXPECT_EQ(Parse({"--timeout", "10s", "start", "all"})->timeout, std::chrono::seconds(10));
  EXPECT_EQ(Parse({"--timeout", "2m", "stop", "zlib"})->timeout, std::chrono::minutes(2));
  EXPECT_EQ(ErrorOf(Parse({"--timeout", "10", "stop", "zlib"})),
            "--timeout: expected a duration with a unit (ns, us, ms, s, m, h), such as \"500ms\", got \"10\"");
  EXPECT_EQ(ErrorOf(Parse({"stop", "zlib", "--timeout"})), "--timeout needs a duration such as 500ms or 10s");
}

TEST(ParseCommandLineTest, LifecycleVerbsNeedTargets) {
  EXPECT_EQ(ErrorOf(Parse({"start"})), "name a pool, a worker (pool:N) or all");
  auto command = Parse({"restart", "zlib", "sqlite:1", "all"});
  ASSERT_TRUE(command);
  EXPECT_EQ(command->verb, Verb::kRestart);
  ASSERT_EQ(command->targets.size(), 3u);
  EXPECT_TRUE(command->targets[2].all);
}

TEST(ParseCommandLineTest, ScaleNeedsPoolAndCount) {
  auto command = Parse({"scale", "zlib", "4"});
  ASSERT_TRUE(command);
  EXPECT_EQ(command->targets[0].pool, "zlib");
  EXPECT_EQ(command->workers, 4u);
  EXPECT_EQ(ErrorOf(Parse({"scale", "zlib", "four"})), "expected a number of workers, got \"four\"");
  EXPECT_EQ(ErrorOf(Parse({"scale", "zlib:0", "4"})), "expected a pool name, got \"zlib:0\"");
  EXPECT_EQ(ErrorOf(Parse({"scale", "all", "4"})), "\"all\" is not accepted here; name a pool");
  EXPECT_EQ(ErrorOf(Parse({"scale", "zlib"})), "too few arguments; usage: supervisorctl scale <pool> <N>");
}

TEST(ParseCommandLineTest, SignalTakesNameThenTarget) {
  auto command = Parse({"signal", "HUP", "zlib:0"});
  ASSERT_TRUE(command);
  EXPECT_EQ(command->signal, "HUP");
  EXPECT_EQ(command->targets, (std::vector<Target>{{.pool = "zlib", .slot = 0}}));
  EXPECT_FALSE(Parse({"signal", "HUP"}));
}

TEST(ParseCommandLineTest, TailReadsFollowLinesAndStream) {
  auto command = Parse({"tail", "-f", "-n", "50", "zlib", "stderr"});
  ASSERT_TRUE(command) << command.error();
  EXPECT_TRUE(command->follow);
  EXPECT_EQ(command->lines, 50u);
  EXPECT_EQ(command->stream, "stderr");
  EXPECT_EQ(Parse({"tail", "zlib"})->stream, "stdout");
  EXPECT_EQ(ErrorOf(Parse({"tail", "zlib", "stdin"})), "expected stdout or stderr, got \"stdin\"");
  EXPECT_EQ(ErrorOf(Parse({"status", "-f"})), "-f and -n belong to tail");
}

TEST(ParseCommandLineTest, CallTakesOptionalInputIncludingDash) {
  auto command = Parse({"call", "echo", "echo", "-"});
  ASSERT_TRUE(command) << command.error();
  EXPECT_EQ(command->method, "echo");
  EXPECT_EQ(command->input, "-");
  EXPECT_FALSE(Parse({"call", "echo", "echo"})->input);
  EXPECT_EQ(Parse({"call", "echo", "echo", "--", "--data"})->input, "--data");
}

TEST(ParseCommandLineTest, PidTakesAtMostOneTarget) {
  EXPECT_TRUE(Parse({"pid"})->targets.empty());
  EXPECT_EQ(Parse({"pid", "zlib:1"})->targets[0].slot, 1u);
  EXPECT_FALSE(Parse({"pid", "zlib", "echo"}));
}

TEST(ParseCommandLineTest, UpdateTakesPoolNamesOnly) {
  EXPECT_EQ(Parse({"update", "a", "b"})->targets.size(), 2u);
  EXPECT_FALSE(Parse({"update", "a:1"}));
  EXPECT_FALSE(Parse({"reread", "a"}));
}

TEST(ParseCommandLineTest, RejectsUnknownVerbsAndFlags) {
  EXPECT_EQ(ErrorOf(Parse({"statuss"})), "unknown verb \"statuss\" (see supervisorctl help)");
  EXPECT_EQ(ErrorOf(Parse({"--jsn", "status"})), "unknown flag \"--jsn\"");
}

TEST(ParseCommandLineTest, HelpNamesAVerb) {
  EXPECT_EQ(Parse({"help", "tail"})->help_verb, Verb::kTail);
  EXPECT_EQ(Parse({"status", "--help"})->verb, Verb::kHelp);
  EXPECT_EQ(Parse({"stop", "-h"})->help_verb, Verb::kStop);
  EXPECT_EQ(Parse({"-h", "tail", "zlib"})->help_verb, Verb::kTail);
  EXPECT_EQ(Parse({"nope", "-h"})->help_verb, std::nullopt);
  EXPECT_EQ(Parse({"-h"})->help_verb, std::nullopt);
  EXPECT_FALSE(Parse({"help", "nope"}));
}

TEST(HelpTextTest, ListsEveryVisibleVerbAndNotTheHiddenOne) {
  const std::string text = HelpText(std::nullopt);
  for (std::string_view verb : VisibleVerbNames()) EXPECT_NE(text.find("  " + std::string(verb)), std::string::npos);
  EXPECT_EQ(text.find("_pools"), std::string::npos);
  EXPECT_EQ(HelpText(Verb::kScale).substr(0, 42), "usage: supervisorctl [flags] scale <pool> ");
}

TEST(VerbNamedTest, ReadsEveryName) {
  for (std::string_view name : VisibleVerbNames()) EXPECT_EQ(VerbName(*VerbNamed(name)), name);
  EXPECT_EQ(VerbNamed("_pools"), Verb::kPools);
}

}  // namespace
}  // namespace sv::ctl
