// Large inputs and outputs move between the channel's two sides in steps
// (ipc/layout.h, kStreamStep): the caller copies output out while the worker
// writes the rest. Each test runs a real sv-worker and checks every byte, with
// the caller spinning throughout (so it takes each step as it comes) and with
// it sleeping (so it takes the whole output at the end), and the typed outcome
// of a worker whose reports are wrong.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "ipc/layout.h"
#include "tests/helpers/worker_process.h"
#include "tests/helpers/worker_testing.h"

namespace sv::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Byte i of what the misbehave plugin's write_* methods write.
char PatternByte(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 251) % 26); }

std::string Pattern(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = PatternByte(i);
  return bytes;
}

enum class Caller { kSpinning, kSleeping };

SpawnOptions Options(Caller caller) {
  SpawnOptions options = DefaultSpawnOptions("misbehave");
  options.channel.request_capacity = 4 << 20;
  options.channel.response_capacity = 4 << 20;
  // Spinning: never stops before the deadline. Sleeping: never spins.
  options.channel.spin = caller == Caller::kSpinning ? ipc::SpinOptions{.budget = seconds(60), .adaptive = false}
                                                     : ipc::SpinOptions{.budget = {}, .adaptive = false};
  return options;
}

constexpr std::size_t kStep = ipc::kStreamStep;
const std::size_t kSizes[] = {0, 1, kStep - 1, kStep, kStep + 1, 2 * kStep, 3 * kStep + 17, (1 << 20) + 3, 4 << 20};

class StreamTest : public ::testing::TestWithParam<Caller> {};

TEST_P(StreamTest, EchoReturnsEveryByteAtEverySize) {
  auto w = StartForTest(Options(GetParam()));
  ASSERT_NE(w, nullptr);
  for (std::size_t size : kSizes) {
    const std::string input = Pattern(size);
    auto out = w->channel().Call("echo", input, Soon());
    ASSERT_TRUE(out) << size << ": " << out.error().ToString();
    ASSERT_EQ(out->size(), size);
    EXPECT_TRUE(*out == input) << "echo of " << size << " bytes differs";
  }
}

TEST_P(StreamTest, OutputWrittenInSmallPiecesArrivesWhole) {
  auto w = StartForTest(Options(GetParam()));
  ASSERT_NE(w, nullptr);
  for (std::size_t size : kSizes) {
    auto out = w->channel().Call("write_pieces", std::to_string(size), Soon());
    ASSERT_TRUE(out) << size << ": " << out.error().ToString();
    ASSERT_EQ(out->size(), size);
    EXPECT_TRUE(*out == Pattern(size)) << "output of " << size << " bytes differs";
  }
}

TEST_P(StreamTest, OutputWrittenInPlaceArrivesWhole) {
  auto w = StartForTest(Options(GetParam()));
  ASSERT_NE(w, nullptr);
  for (std::size_t size : kSizes) {
    auto out = w->channel().Call("write_in_place", std::to_string(size), Soon());
    ASSERT_TRUE(out) << size << ": " << out.error().ToString();
    ASSERT_EQ(out->size(), size);
    EXPECT_TRUE(*out == Pattern(size)) << "output of " << size << " bytes differs";
  }
}

TEST_P(StreamTest, AnErrorAfterMuchOutputIsTheErrorAlone) {
  auto w = StartForTest(Options(GetParam()));
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("fail_after_writing", std::to_string(1 << 20), Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPluginError) << out.error().ToString();
  EXPECT_EQ(out.error().plugin_code(), 7);
  // The next call gets its own output, none of the failed one's.
  auto next = w->channel().Call("echo", "next", Soon());
  ASSERT_TRUE(next) << next.error().ToString();
  EXPECT_EQ(*next, "next");
}

TEST_P(StreamTest, OutputOverCapacityAfterStreamingIsPayloadTooLarge) {
  auto w = StartForTest(Options(GetParam()));
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("write_pieces", std::to_string((4 << 20) + 1), Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPayloadTooLarge) << out.error().ToString();
  auto next = w->channel().Call("echo", "next", Soon());
  ASSERT_TRUE(next) << next.error().ToString();
  EXPECT_EQ(*next, "next");
}

TEST_P(StreamTest, ReportsThatSayNothingNewStillEndAtTheDeadline) {
  auto w = StartForTest(Options(GetParam()));
  ASSERT_NE(w, nullptr);
  const auto start = std::chrono::steady_clock::now();
  auto out = w->channel().Call("churn_stream", "", Deadline::After(milliseconds(300)));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kDeadlineExceeded) << out.error().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10)) << "the wait outlasted its deadline";
}

INSTANTIATE_TEST_SUITE_P(Callers, StreamTest, ::testing::Values(Caller::kSpinning, Caller::kSleeping),
                         [](const ::testing::TestParamInfo<Caller>& p) { return p.param == Caller::kSpinning ? "Spinning" : "Sleeping"; });

TEST(StreamViolationTest, AReportOfMoreThanTheAreaHoldsIsAProtocolViolation) {
  // The caller spins until its deadline, so it sees the report.
  auto w = StartForTest(Options(Caller::kSpinning));
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call("stream_over_capacity", "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kProtocolViolation) << out.error().ToString();
  EXPECT_NE(out.error().message().find("streamed size"), std::string::npos) << out.error().message();
  auto again = w->channel().Call("echo", "x", Soon());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kClosed);
}

}  // namespace
}  // namespace sv::testing
