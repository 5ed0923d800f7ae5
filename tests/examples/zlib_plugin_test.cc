// The zlib example plugin in a real sv-worker: round trips, corrupt and
// truncated input, output beyond the response capacity, and its `level` config.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "tests/helpers/worker_process.h"
#include "tests/helpers/worker_testing.h"

namespace sv::testing {
namespace {

std::string Incompressible(std::size_t size) {
  std::mt19937_64 random(42);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

std::string Compressible(std::size_t size) {
  std::string text;
  while (text.size() < size) text += "the quick brown fox jumps over the lazy dog. ";
  text.resize(size);
  return text;
}

std::unique_ptr<WorkerProcess> StartZlib(SpawnOptions options = DefaultSpawnOptions("zlib")) {
  return StartForTest(std::move(options));
}

// compress, then decompress; expects both to succeed and returns the compressed bytes.
std::string ExpectRoundTrip(WorkerProcess& w, const std::string& input) {
  auto compressed = w.channel().Call("compress", input, Soon());
  EXPECT_TRUE(compressed) << compressed.error().ToString();
  if (!compressed) return {};
  auto restored = w.channel().Call("decompress", *compressed, Soon());
  EXPECT_TRUE(restored) << restored.error().ToString();
  if (restored) {
    EXPECT_TRUE(*restored == input) << "round trip of " << input.size() << " bytes differs";
  }
  return *compressed;
}

TEST(ZlibPluginTest, RoundTripsInputsOfSeveralSizes) {
  auto w = StartZlib();
  ASSERT_TRUE(w);
  for (std::size_t size : {0, 1, 1000, 64 * 1024}) {
    SCOPED_TRACE(size);
    ExpectRoundTrip(*w, Compressible(size));
  }
  std::string random = Incompressible(100 * 1024);
  EXPECT_GE(ExpectRoundTrip(*w, random).size(), random.size());
  std::string text = Compressible(100 * 1024);
  EXPECT_LT(ExpectRoundTrip(*w, text).size(), text.size() / 20);
}

TEST(ZlibPluginTest, CorruptInputIsAPluginErrorAndTheWorkerServesOn) {
  auto w = StartZlib();
  ASSERT_TRUE(w);
  auto out = w->channel().Call("decompress", "this is not a zlib stream", Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kPluginError) << out.error().ToString();
  EXPECT_EQ(out.error().plugin_code(), 1003) << out.error().ToString();  // Z_DATA_ERROR
  ExpectRoundTrip(*w, "still serving");
}

TEST(ZlibPluginTest, TruncatedOrTrailingInputIsAPluginError) {
  auto w = StartZlib();
  ASSERT_TRUE(w);
  std::string compressed = ExpectRoundTrip(*w, Incompressible(10 * 1024));
  ASSERT_FALSE(compressed.empty());
  auto truncated = w->channel().Call("decompress", compressed.substr(0, compressed.size() / 2), Soon());
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code(), ErrorCode::kPluginError) << truncated.error().ToString();
  EXPECT_EQ(truncated.error().plugin_code(), 1005) << truncated.error().ToString();  // Z_BUF_ERROR
  auto trailing = w->channel().Call("decompress", compressed + "junk", Soon());
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().code(), ErrorCode::kPluginError) << trailing.error().ToString();
  EXPECT_NE(trailing.error().plugin_code(), 0);
  ExpectRoundTrip(*w, "still serving");
}

TEST(ZlibPluginTest, OutputBeyondTheResponseCapacityIsPayloadTooLarge) {
  SpawnOptions options = DefaultSpawnOptions("zlib");
  options.channel.response_capacity = 64 * 1024;
  auto w = StartZlib(options);
  ASSERT_TRUE(w);
  auto compressed = w->channel().Call("compress", std::string(512 * 1024, 'z'), Soon());
  ASSERT_TRUE(compressed) << compressed.error().ToString();
  auto inflated = w->channel().Call("decompress", *compressed, Soon());
  ASSERT_FALSE(inflated);
  EXPECT_EQ(inflated.error().code(), ErrorCode::kPayloadTooLarge) << inflated.error().ToString();
  auto deflated = w->channel().Call("compress", Incompressible(128 * 1024), Soon());
  ASSERT_FALSE(deflated);
  EXPECT_EQ(deflated.error().code(), ErrorCode::kPayloadTooLarge) << deflated.error().ToString();
  ExpectRoundTrip(*w, Compressible(60 * 1024));
}

// One call in a fresh worker whose response area holds `capacity` bytes.
std::expected<std::string, Error> CallWithCapacity(std::size_t capacity, const char* method, const std::string& input) {
  SpawnOptions options = DefaultSpawnOptions("zlib");
  options.channel.response_capacity = static_cast<std::uint32_t>(capacity);
  auto w = StartZlib(options);
  if (!w) return Fail(ErrorCode::kInternal, "no worker");
  return w->channel().Call(method, input, Soon());
}

TEST(ZlibPluginTest, OutputFitsUpToTheLastByteOfTheResponseArea) {
  auto w = StartZlib();
  ASSERT_TRUE(w);
  for (const std::string& input : {Incompressible(10 * 1024), Compressible(64 * 1024)}) {
    SCOPED_TRACE(input.size());
    std::string compressed = ExpectRoundTrip(*w, input);
    ASSERT_FALSE(compressed.empty());
    auto deflated = CallWithCapacity(compressed.size(), "compress", input);
    ASSERT_TRUE(deflated) << deflated.error().ToString();
    EXPECT_TRUE(*deflated == compressed);
    auto inflated = CallWithCapacity(input.size(), "decompress", compressed);
    ASSERT_TRUE(inflated) << inflated.error().ToString();
    EXPECT_TRUE(*inflated == input);

    auto deflated_short = CallWithCapacity(compressed.size() - 1, "compress", input);
    ASSERT_FALSE(deflated_short);
    EXPECT_EQ(deflated_short.error().code(), ErrorCode::kPayloadTooLarge) << deflated_short.error().ToString();
    auto inflated_short = CallWithCapacity(input.size() - 1, "decompress", compressed);
    ASSERT_FALSE(inflated_short);
    EXPECT_EQ(inflated_short.error().code(), ErrorCode::kPayloadTooLarge) << inflated_short.error().ToString();
  }
}

TEST(ZlibPluginTest, LevelZeroStoresAndStillRoundTrips) {
  SpawnOptions options = DefaultSpawnOptions("zlib");
  options.worker.config = {{"level", "0"}};
  auto w = StartZlib(options);
  ASSERT_TRUE(w);
  std::string text = Compressible(10 * 1024);
  EXPECT_GT(ExpectRoundTrip(*w, text).size(), text.size());
}

TEST(ZlibPluginTest, BadLevelFailsInitAndTheWorkerExitsPermanently) {
  for (const char* level : {"10", "-1", "fast", ""}) {
    SCOPED_TRACE(level);
    SpawnOptions options = DefaultSpawnOptions("zlib");
    options.worker.config = {{"level", level}};
    auto w = WorkerProcess::Spawn(options);
    ASSERT_TRUE(w) << w.error().ToString();
    Status ready = (*w)->channel().WaitReady(Soon());
    ASSERT_FALSE(ready);
    EXPECT_EQ(ready.error().code(), ErrorCode::kPluginError) << ready.error().ToString();
    EXPECT_NE(ready.error().message().find("level"), std::string::npos) << ready.error().ToString();
    auto exit = (*w)->Wait(Soon());
    ASSERT_TRUE(exit) << exit.error().ToString();
    EXPECT_FALSE(exit->signaled) << exit->ToString();
    EXPECT_EQ(exit->code, 100);
  }
}

}  // namespace
}  // namespace sv::testing
