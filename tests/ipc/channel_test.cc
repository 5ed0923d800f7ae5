// The trusted side of the channel: limits, the zero-copy path, sealing, and
// waits that end on a deadline or a dead peer. Calls go to a real sv-worker
// running the echo plugin.
#include <fcntl.h>
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include "ipc/channel.h"
#include "tests/helpers/worker_process.h"
#include "tests/helpers/worker_testing.h"

namespace sv::ipc {
namespace {

using sv::testing::DefaultSpawnOptions;
using sv::testing::Soon;
using sv::testing::WorkerProcess;

std::unique_ptr<WorkerProcess> StartEcho(std::uint32_t capacity = 64 * 1024) {
  sv::testing::SpawnOptions options = DefaultSpawnOptions("echo");
  options.channel.request_capacity = capacity;
  options.channel.response_capacity = capacity;
  return sv::testing::StartForTest(options);
}

TEST(ChannelTest, RoundTripsPayloadsUpToExactlyTheCapacity) {
  auto w = StartEcho(4096);
  ASSERT_NE(w, nullptr);
  for (std::size_t size : {0ul, 1ul, 100ul, 4095ul, 4096ul}) {
    std::string input(size, '\0');
    for (std::size_t i = 0; i < size; ++i) input[i] = static_cast<char>(i * 31 + size);
    auto out = w->channel().Call("echo", input, Soon());
    ASSERT_TRUE(out) << size << ": " << out.error().ToString();
    EXPECT_EQ(*out, input) << size;
  }
}

TEST(ChannelTest, RejectsRequestLargerThanCapacityWithoutSending) {
  auto w = StartEcho(4096);
  ASSERT_NE(w, nullptr);
  const std::uint64_t before = w->channel().last_call_id();
  auto out = w->channel().Call("echo", std::string(4097, 'x'), Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPayloadTooLarge);
  EXPECT_NE(out.error().message().find("4097"), std::string::npos) << out.error().message();
  EXPECT_EQ(w->channel().last_call_id(), before);
  auto ok = w->channel().Call("echo", "next", Soon());
  ASSERT_TRUE(ok) << ok.error().ToString();
}

TEST(ChannelTest, CarriesMethodNamesLongerThanTheInlineSlot) {
  auto w = StartEcho();
  ASSERT_NE(w, nullptr);
  const std::string name(kInlineMethodSize + 12, 'm');
  auto out = w->channel().Call(name, "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().plugin_code(), -1);  // SV_ERR_NO_METHOD, naming the whole name
  EXPECT_NE(out.error().message().find("\"" + name + "\""), std::string::npos) << out.error().message();
  auto echo = w->channel().Call("echo", "short again", Soon());
  ASSERT_TRUE(echo) << echo.error().ToString();
}

TEST(ChannelTest, RejectsOverlongMethodName) {
  auto w = StartEcho();
  ASSERT_NE(w, nullptr);
  auto out = w->channel().Call(std::string(kMaxMethodSize + 1, 'm'), "", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ChannelTest, ZeroCopyCallLeavesTheResponseInPlaceUntilReleased) {
  auto w = StartEcho();
  ASSERT_NE(w, nullptr);
  Channel& channel = w->channel();
  std::span<std::byte> input = channel.InputArea();
  ASSERT_EQ(input.size(), 64u * 1024);
  std::memcpy(input.data(), "in place", 8);
  {
    auto lease = channel.CallInPlace("echo", 8, Soon());
    ASSERT_TRUE(lease) << lease.error().ToString();
    EXPECT_EQ(lease->view(), "in place");
    auto busy = channel.Call("echo", "x", Soon());
    ASSERT_FALSE(busy);
    EXPECT_EQ(busy.error().code(), ErrorCode::kInUse);
  }
  auto after = channel.Call("echo", "released", Soon());
  ASSERT_TRUE(after) << after.error().ToString();
  EXPECT_EQ(*after, "released");
}

TEST(ChannelTest, ManyCallsWithoutSpinningStayInStep) {
  sv::testing::SpawnOptions options = DefaultSpawnOptions("echo");
  options.channel.spin.budget = std::chrono::nanoseconds(0);
  options.worker.spin.budget = std::chrono::nanoseconds(0);
  auto w = WorkerProcess::Start(options, Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  for (int i = 0; i < 2000; ++i) {
    std::string input = std::to_string(i);
    auto out = (*w)->channel().Call("echo", input, Soon());
    ASSERT_TRUE(out) << i << ": " << out.error().ToString();
    ASSERT_EQ(*out, input);
  }
}

TEST(ChannelTest, NoCallAfterAStopRequest) {
  auto w = StartEcho();
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->channel().RequestStop());
  auto out = w->channel().Call("echo", "x", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kClosed);
  auto exit = w->Wait(Soon());
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 0);
}

TEST(ChannelTest, NoCallToADeadWorker) {
  auto w = StartEcho();
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Signal(SIGKILL));
  ASSERT_TRUE(w->Wait(Soon()));
  w->channel().MarkPeerDead();  // as the pidfd watcher does, perhaps a little later
  auto out = w->channel().Call("echo", "x", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kWorkerCrashed);
}

TEST(ChannelTest, RegionsAreSealedAndTheRequestRegionCannotBeMappedWritable) {
  auto channel = Channel::Create({.request_capacity = 4096, .response_capacity = 4096});
  ASSERT_TRUE(channel) << channel.error().ToString();
  int request_seals = fcntl((*channel)->request_fd(), F_GET_SEALS);
  EXPECT_EQ(request_seals, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
  int response_seals = fcntl((*channel)->response_fd(), F_GET_SEALS);
  EXPECT_EQ(response_seals, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  void* writable = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, (*channel)->request_fd(), 0);
  EXPECT_EQ(writable, MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(ftruncate((*channel)->response_fd(), 0), 0);
}

TEST(ChannelTest, RejectsCapacityOverTheLimit) {
  auto channel = Channel::Create({.request_capacity = kMaxCapacity + 1});
  ASSERT_FALSE(channel);
  EXPECT_EQ(channel.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ChannelTest, WaitWithoutAWorkerEndsAtTheDeadline) {
  auto channel = Channel::Create({.request_capacity = 4096, .response_capacity = 4096});
  ASSERT_TRUE(channel);
  Status ready = (*channel)->WaitReady(Deadline::After(std::chrono::milliseconds(50)));
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code(), ErrorCode::kDeadlineExceeded);
}

TEST(ChannelTest, SpinEndsAtTheDeadline) {
  // A fixed 30 s spin with a 50 ms deadline: the call must not spin on.
  auto channel = Channel::Create(
      {.request_capacity = 4096, .response_capacity = 4096, .spin = {.budget = std::chrono::seconds(30), .adaptive = false}});
  ASSERT_TRUE(channel);
  const auto start = std::chrono::steady_clock::now();
  Status ready = (*channel)->WaitReady(Deadline::After(std::chrono::milliseconds(50)));
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ChannelDeathTest, DestroyingTheChannelUnderALeaseAborts) {
  auto w = StartEcho();
  ASSERT_NE(w, nullptr);
  EXPECT_DEATH(
      {
        auto lease = w->channel().CallInPlace("echo", 0, Soon());
        if (lease) w.reset();  // the lease outlives the channel's mappings
      },
      "leased_");
}

TEST(ChannelTest, MarkPeerDeadEndsAWaitInAnotherThread) {
  auto channel = Channel::Create({.request_capacity = 4096, .response_capacity = 4096, .spin = {.budget = {}}});
  ASSERT_TRUE(channel);
  Channel* c = channel->get();
  std::optional<Status> result;
  std::thread waiter([&] { result = c->WaitReady(Deadline::After(std::chrono::seconds(30))); });
  c->MarkPeerDead();
  waiter.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code(), ErrorCode::kWorkerCrashed);
}

}  // namespace
}  // namespace sv::ipc

namespace sv::ipc {
namespace {

// This process's shared-memory pages in its page tables.
std::size_t RssShmemKiB() {
  FILE* status = std::fopen("/proc/self/status", "re");
  char line[256];
  std::size_t kib = 0;
  while (status != nullptr && std::fgets(line, sizeof line, status) != nullptr) {
    if (std::sscanf(line, "RssShmem: %zu kB", &kib) == 1) break;
  }
  if (status != nullptr) std::fclose(status);
  return kib;
}

TEST(ChannelTest, AChannelMapsNoPageOfItsOwnerUntilItsFirstCall) {
  const std::size_t before = RssShmemKiB();
  std::vector<std::unique_ptr<Channel>> channels;
  for (int i = 0; i < 64; ++i) {
    auto channel = Channel::Create({.request_capacity = 1 << 16, .response_capacity = 1 << 16});
    ASSERT_TRUE(channel) << channel.error().ToString();
    channels.push_back(std::move(*channel));
  }
  EXPECT_LT(RssShmemKiB() - before, 16u);  // 64 channels touching a page each would be 256 KiB or more
}

// Polls ReadyNow() until the hello is there (a bounded wait: the harness
// passes no ready eventfd to wait on).
Status PollReady(Channel& channel) {
  const Deadline deadline = testing::Soon();
  for (;;) {
    Status s = channel.ReadyNow();
    if (s || s.error().code() != ErrorCode::kInUse || deadline.Expired()) return s;
    std::this_thread::yield();
  }
}

TEST(ChannelTest, ReadyNowReadsTheHelloWithoutWaiting) {
  auto w = testing::WorkerProcess::Spawn(testing::DefaultSpawnOptions("echo"));
  ASSERT_TRUE(w) << w.error().ToString();
  ASSERT_TRUE(PollReady((*w)->channel()));
  auto out = (*w)->channel().Call("echo", "after ReadyNow", testing::Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, "after ReadyNow");
  auto again = (*w)->channel().ReadyNow();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kInUse);
}

// Every method-name length around the inline slot's size reaches the worker
// intact: the plugin's "no method" error quotes the name it received.
TEST(ChannelTest, MethodNamesOfEveryLengthArriveIntact) {
  auto w = testing::StartForTest(testing::DefaultSpawnOptions("echo"));
  ASSERT_TRUE(w);
  for (std::size_t size = 1; size <= kInlineMethodSize + 4; ++size) {
    std::string name;
    for (std::size_t i = 0; i < size; ++i) name += static_cast<char>('a' + (i * 7 + size) % 26);
    auto out = w->channel().Call(name, "", testing::Soon());
    ASSERT_FALSE(out) << name;
    EXPECT_NE(out.error().message().find("no method \"" + name + "\""), std::string::npos) << out.error().message();
  }
}

TEST(ChannelTest, ReadyNowReportsAFailedInit) {
  auto w = testing::WorkerProcess::Spawn(testing::DefaultSpawnOptions("init_fails"));
  ASSERT_TRUE(w) << w.error().ToString();
  Status ready = PollReady((*w)->channel());
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code(), ErrorCode::kPluginError);
  EXPECT_NE(ready.error().message().find("cannot reach the database"), std::string::npos) << ready.error().message();
}

}  // namespace
}  // namespace sv::ipc
