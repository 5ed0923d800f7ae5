// LogBuffer on its own: lines, splitting, the budget, following, waiting.
#include "supervisor/log_buffer.h"

#include <gtest/gtest.h>

#include <thread>

namespace sv::supervisor {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> Texts(const LogRead& read) {
  std::vector<std::string> texts;
  for (const auto& line : read.lines) texts.push_back(line.text);
  return texts;
}

TEST(LogBufferTest, NumbersCompleteLinesAndCarriesAPartialOneAcrossAppends) {
  LogBuffer buffer;
  std::vector<std::string> completed;
  buffer.Append("one\ntw", &completed);
  buffer.Append("o\n\nthr", &completed);
  EXPECT_EQ(completed, (std::vector<std::string>{"one", "two", ""}));
  LogRead read = buffer.Tail(10);
  EXPECT_EQ(Texts(read), (std::vector<std::string>{"one", "two", ""}));
  EXPECT_EQ(read.lines.front().seq, 1u);
  EXPECT_EQ(read.next, 3u);
  buffer.Append("ee\n");
  EXPECT_EQ(Texts(buffer.Tail(1)), (std::vector<std::string>{"three"}));
}

TEST(LogBufferTest, SplitsLinesLongerThanMaxLine) {
  LogBuffer buffer({.max_line = 4});
  buffer.Append("abcdefghij\n");
  buffer.Append("wxyz\n");  // exactly max_line: one line, no empty piece after it
  buffer.Append("12");
  buffer.Append("34");
  buffer.Append("\n");
  EXPECT_EQ(Texts(buffer.Tail(10)), (std::vector<std::string>{"abcd", "efgh", "ij", "wxyz", "1234"}));
}

TEST(LogBufferTest, KeepsTheNewestLinesWithinTheByteBudgetAndCountsTheRest) {
  const std::size_t line_cost = 10 + LogBuffer::kLineOverhead;
  LogBuffer buffer({.max_bytes = 3 * line_cost});
  for (int i = 0; i < 10; ++i) buffer.Append(std::string(9, 'a') + std::to_string(i) + "\n");
  LogStats stats = buffer.Stats();
  EXPECT_EQ(stats.lines, 10u);
  EXPECT_EQ(stats.dropped, 7u);
  EXPECT_EQ(stats.bytes, 3 * line_cost);
  LogRead read = buffer.Tail(100);
  ASSERT_EQ(read.lines.size(), 3u);
  EXPECT_EQ(read.lines.front().seq, 8u);
  EXPECT_EQ(read.lines.back().text, "aaaaaaaaa9");
}

TEST(LogBufferTest, KeepsAtMostMaxLinesEvenWhenTheyAreEmpty) {
  LogBuffer buffer({.max_lines = 5});
  buffer.Append(std::string(1000, '\n'));
  EXPECT_EQ(buffer.Tail(100).lines.size(), 5u);
  EXPECT_EQ(buffer.Stats().dropped, 995u);
}

TEST(LogBufferTest, AfterReturnsNewerLinesAndHowManyWereDroppedBetween) {
  LogBuffer buffer({.max_lines = 4});
  for (int i = 1; i <= 10; ++i) buffer.Append(std::to_string(i) + "\n");  // keeps 7..10
  LogRead read = buffer.After(2, 3);
  EXPECT_EQ(Texts(read), (std::vector<std::string>{"7", "8", "9"}));
  EXPECT_EQ(read.dropped, 4u);  // 3..6
  EXPECT_EQ(read.next, 9u);
  read = buffer.After(read.next, 100);
  EXPECT_EQ(Texts(read), (std::vector<std::string>{"10"}));
  EXPECT_EQ(read.dropped, 0u);
  read = buffer.After(10, 100);
  EXPECT_TRUE(read.lines.empty());
  EXPECT_EQ(read.next, 10u);
  read = buffer.After(50, 100);  // a reader of an earlier supervisor
  EXPECT_TRUE(read.lines.empty());
  EXPECT_EQ(read.next, 10u);
}

TEST(LogBufferTest, WaitAfterWakesOnANewLine) {
  LogBuffer buffer;
  buffer.Append("old\n");
  std::jthread writer([&] { buffer.Append("new\n"); });
  LogRead read = buffer.WaitAfter(1, 10, Deadline::After(20s));
  EXPECT_EQ(Texts(read), (std::vector<std::string>{"new"}));
  EXPECT_EQ(read.next, 2u);
}

TEST(LogBufferTest, WaitAfterReturnsNothingAtItsDeadline) {
  LogBuffer buffer;
  buffer.Append("old\n");
  const auto start = std::chrono::steady_clock::now();
  LogRead read = buffer.WaitAfter(1, 10, Deadline::After(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_TRUE(read.lines.empty());
  EXPECT_EQ(read.next, 1u);
}

TEST(LogBufferTest, ShutdownWakesAWaitingReader) {
  LogBuffer buffer;
  std::jthread stopper([&] { buffer.Shutdown(); });
  LogRead read = buffer.WaitAfter(0, 10, Deadline::After(20s));
  EXPECT_TRUE(read.lines.empty());
  stopper.join();
  read = buffer.WaitAfter(0, 10, Deadline::Infinite());  // and every later one
  EXPECT_TRUE(read.lines.empty());
}

}  // namespace
}  // namespace sv::supervisor
