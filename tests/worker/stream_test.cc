// Large inputs and outputs move between the channel's two sides in steps
// (ipc/layout.h, kStreamStep): the caller copies output out while the worker
// writes the rest. Each test runs a real sv-worker and checks every byte, with
// the caller spinning throughout (so it takes each step as it comes) and with
// it sleeping (so it takes the whole output at the end), and the typed outcome
// of a worker whose reports are wrong.
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "ipc/layout.h"
#include "tests/stop/blocked.h"
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

// Calls `method` with each of kSizes (as `input(size)`) and expects the
// pattern of that size back.
template <class Input>
void ExpectPatternAtEverySize(Caller caller, const char* method, Input input) {
  auto w = StartForTest(Options(caller));
  ASSERT_NE(w, nullptr);
  for (std::size_t size : kSizes) {
    auto out = w->channel().Call(method, input(size), Soon());
    ASSERT_TRUE(out) << method << " " << size << ": " << out.error().ToString();
    ASSERT_EQ(out->size(), size) << method;
    EXPECT_TRUE(*out == Pattern(size)) << method << ": output of " << size << " bytes differs";
  }
}

TEST_P(StreamTest, EchoReturnsEveryByteAtEverySize) {
  ExpectPatternAtEverySize(GetParam(), "echo", Pattern);
}

TEST_P(StreamTest, OutputWrittenInSmallPiecesArrivesWhole) {
  ExpectPatternAtEverySize(GetParam(), "write_pieces", [](std::size_t size) { return std::to_string(size); });
}

TEST_P(StreamTest, OutputWrittenInPlaceArrivesWhole) {
  ExpectPatternAtEverySize(GetParam(), "write_in_place", [](std::size_t size) { return std::to_string(size); });
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

// A call of the misbehave plugin's stream_pause ("A B MODE": A bytes, a pause
// until a line arrives on the worker's stdin, then MODE) on a thread of its
// own, so the test can act while the worker pauses.
class PausedCall {
 public:
  PausedCall(Caller caller, ipc::SpinOptions spin, std::string input) {
    SpawnOptions options = Options(caller);
    options.channel.spin = spin;
    options.stdin_fd = stdin_.read_end.get();
    worker_ = StartForTest(std::move(options));
    if (worker_ == nullptr) return;
    // A first call, so the worker is past its start-up when the paused one comes.
    auto warm = worker_->channel().Call("echo", "warm", Soon());
    EXPECT_TRUE(warm) << warm.error().ToString();
    std::promise<pid_t> tid;
    caller_tid_ = tid.get_future();
    thread_ = std::thread([this, input = std::move(input), tid = std::move(tid)]() mutable {
      tid.set_value(static_cast<pid_t>(syscall(SYS_gettid)));
      result_ = worker_->channel().Call("stream_pause", input, Soon());
    });
  }
  ~PausedCall() {
    if (thread_.joinable()) {
      Resume();
      thread_.join();
    }
  }

  bool started() const { return worker_ != nullptr; }
  ipc::Channel& channel() { return worker_->channel(); }
  pid_t caller_tid() { return caller_tid_.get(); }

  // Whether the caller took at least `bytes` of output early, within 20 s.
  bool TookEarly(std::uint64_t bytes) {
    const Deadline deadline = Soon();
    while (channel().streamed_bytes() < bytes) {
      if (deadline.Expired()) return false;
      std::this_thread::yield();
    }
    return true;
  }
  void Resume() {
    if (!resumed_) resumed_ = write(stdin_.write_end.get(), "go\n", 3) == 3;
  }
  std::expected<std::string, Error> Result() {
    Resume();
    thread_.join();
    return *result_;
  }

 private:
  Pipe stdin_ = Pipe::Create();
  std::unique_ptr<WorkerProcess> worker_;
  std::future<pid_t> caller_tid_;
  std::thread thread_;
  std::optional<std::expected<std::string, Error>> result_;
  bool resumed_ = false;
};

constexpr ipc::SpinOptions kSpinAlways{.budget = std::chrono::seconds(60), .adaptive = false};

// The bytes the paused call returns in mode "more": the pattern throughout,
// although the worker overwrote the first byte after the caller took it.
void ExpectWholePattern(const std::expected<std::string, Error>& out, std::size_t size) {
  ASSERT_TRUE(out) << out.error().ToString();
  ASSERT_EQ(out->size(), size);
  EXPECT_EQ((*out)[0], PatternByte(0)) << "a byte taken early was read again";
  EXPECT_TRUE(*out == Pattern(size)) << "output differs";
}

TEST(StreamEarlyTest, ASpinningCallerCopiesOutputOnceWhileTheWorkerWritesTheRest) {
  PausedCall call(Caller::kSpinning, kSpinAlways, std::to_string(2 * kStep + 1) + " " + std::to_string(2 * kStep) + " more");
  ASSERT_TRUE(call.started());
  ASSERT_TRUE(call.TookEarly(2 * kStep)) << "nothing was taken while the worker paused";
  ExpectWholePattern(call.Result(), 4 * kStep + 1);
}

TEST(StreamEarlyTest, ACallerThatSleepsAfterTakingSomeKeepsItAndTakesTheRest) {
  PausedCall call(Caller::kSpinning, {.budget = milliseconds(300), .adaptive = false},
                  std::to_string(2 * kStep + 1) + " " + std::to_string(3 * kStep + 5) + " more");
  ASSERT_TRUE(call.started());
  ASSERT_TRUE(call.TookEarly(kStep)) << "nothing was taken while the worker paused";
  // The caller's spin runs out while the worker waits: it sleeps on the doorbell.
  ASSERT_TRUE(stop::testing::WaitUntilBlockedIn(call.caller_tid(), {SYS_futex, SYS_futex_waitv}, Soon()));
  ExpectWholePattern(call.Result(), 5 * kStep + 6);
}

// Pauses the worker after 2 steps of output, lets it go on in `mode` once the
// caller took some, and expects a protocol violation that mentions `what`.
void ExpectViolationAfterAPause(const std::string& mode, const std::string& what) {
  PausedCall call(Caller::kSpinning, kSpinAlways, std::to_string(2 * kStep) + " 0 " + mode);
  ASSERT_TRUE(call.started());
  ASSERT_TRUE(call.TookEarly(kStep));
  auto out = call.Result();
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kProtocolViolation) << out.error().ToString();
  EXPECT_NE(out.error().message().find(what), std::string::npos) << out.error().message();
}

TEST(StreamEarlyTest, AnOutputSizeBelowWhatWasReportedIsAProtocolViolation) {
  ExpectViolationAfterAPause("shrink", "output size 16 is less than the");
}

TEST(StreamEarlyTest, AReportThatGoesBackIsAProtocolViolation) {
  ExpectViolationAfterAPause("back", "went back");
}

// CPU time of the calling thread.
std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

TEST(StreamViolationTest, AWorkerReportingAByteAtATimeDoesNotKeepTheCallerSpinning) {
  // A report of less than a step buys no more spinning, so the caller sleeps
  // through the rest of the call once its 5 ms run out, and wakes at its
  // deadline. (The worker reports a byte every 10 us.)
  SpawnOptions options = Options(Caller::kSpinning);
  options.channel.spin = ipc::SpinOptions{.budget = milliseconds(5), .adaptive = false};
  auto w = StartForTest(std::move(options));
  ASSERT_NE(w, nullptr);
  const auto cpu_before = ThreadCpuTime();
  auto out = w->channel().Call("creep_stream", "", Deadline::After(seconds(1)));
  const auto cpu = ThreadCpuTime() - cpu_before;
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kDeadlineExceeded) << out.error().ToString();
  // Spinning through the call would cost about the whole second.
  EXPECT_LT(cpu, milliseconds(500)) << "the caller spun while the worker crept";
}

}  // namespace
}  // namespace sv::testing
