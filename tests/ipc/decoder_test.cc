// DecodeResponse, CopyOut and CopyOutMessage on a ResponseSlot in ordinary
// memory, and the fuzz target (decoder_fuzz.cc, linked in) replayed over its
// seed corpus and over seeded pseudo-random variations of it.
#include "ipc/decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size);

namespace sv::ipc {
namespace {

constexpr std::uint64_t kCallId = 7;
constexpr std::uint32_t kAreaSize = 256;

// A well-formed response to call kCallId, fields stored as the worker would.
void Fill(ResponseSlot& slot, ResponseStatus status, std::uint32_t output_size = 0, std::uint32_t message_size = 0,
          std::int32_t plugin_code = 0) {
  slot.doorbell.store(static_cast<std::uint32_t>(kCallId), std::memory_order_relaxed);
  slot.call_id.store(kCallId, std::memory_order_relaxed);
  slot.status.store(static_cast<std::uint32_t>(status), std::memory_order_relaxed);
  slot.plugin_code.store(plugin_code, std::memory_order_relaxed);
  slot.output_size.store(output_size, std::memory_order_relaxed);
  slot.message_size.store(message_size, std::memory_order_relaxed);
}

class DecoderTest : public ::testing::Test {
 protected:
  std::span<const std::byte> Data() const { return {area_.data(), area_.size()}; }
  void Put(std::string_view text) { std::memcpy(area_.data(), text.data(), text.size()); }
  std::string Decode(Expecting expecting = Expecting::kCall) {
    return DecodeResponse(slot_, Data(), kCallId, expecting, &out_);
  }

  ResponseSlot slot_{};
  std::array<std::byte, kAreaSize> area_{};
  DecodedResponse out_{};
};

TEST_F(DecoderTest, AcceptsOkAndPointsAtTheOutput) {
  Put("hello");
  Fill(slot_, ResponseStatus::kOk, 5);
  ASSERT_EQ(Decode(), "");
  EXPECT_EQ(out_.status, ResponseStatus::kOk);
  EXPECT_EQ(out_.payload.data(), area_.data());
  EXPECT_EQ(CopyOut(out_.payload), "hello");
}

TEST_F(DecoderTest, AcceptsOkThatFillsTheWholeArea) {
  Fill(slot_, ResponseStatus::kOk, kAreaSize);
  ASSERT_EQ(Decode(), "");
  EXPECT_EQ(out_.payload.size(), kAreaSize);
}

TEST_F(DecoderTest, AcceptsPluginErrorWithCodeAndMessage) {
  Put("no such key");
  Fill(slot_, ResponseStatus::kPluginError, 0, 11, -3);
  ASSERT_EQ(Decode(), "");
  EXPECT_EQ(out_.plugin_code, -3);
  EXPECT_EQ(CopyOutMessage(out_.payload), "no such key");
}

TEST_F(DecoderTest, RejectsWrongCallId) {
  Fill(slot_, ResponseStatus::kOk);
  slot_.call_id.store(kCallId - 1, std::memory_order_relaxed);
  EXPECT_NE(Decode().find("call id 6, expected 7"), std::string::npos);
}

TEST_F(DecoderTest, RejectsUnknownStatus) {
  Fill(slot_, ResponseStatus::kOk);
  for (std::uint32_t status : {0u, 8u, 0xFFFFFFFFu}) {
    slot_.status.store(status, std::memory_order_relaxed);
    EXPECT_NE(Decode(Expecting::kCall), "") << status;
    EXPECT_NE(Decode(Expecting::kHello), "") << status;
  }
}

TEST_F(DecoderTest, RejectsReadyDuringACall) {
  Fill(slot_, ResponseStatus::kReady);
  EXPECT_NE(Decode(Expecting::kCall).find("not valid for a call"), std::string::npos);
  Fill(slot_, ResponseStatus::kInitFailed);
  EXPECT_NE(Decode(Expecting::kCall), "");
}

TEST_F(DecoderTest, RejectsOkDuringTheHello) {
  Fill(slot_, ResponseStatus::kOk);
  EXPECT_NE(Decode(Expecting::kHello).find("not valid for the ready report"), std::string::npos);
  Fill(slot_, ResponseStatus::kReady);
  EXPECT_EQ(Decode(Expecting::kHello), "");
}

TEST_F(DecoderTest, RejectsOutputLargerThanTheTrustedCapacity) {
  for (std::uint32_t size : {kAreaSize + 1, kMaxCapacity, 0xFFFFFFFFu}) {
    Fill(slot_, ResponseStatus::kOk, size);
    EXPECT_NE(Decode().find("output size " + std::to_string(size) + " exceeds"), std::string::npos) << size;
  }
}

TEST_F(DecoderTest, RejectsMessageOverMaxMessageSizeEvenIfItFits) {
  std::vector<std::byte> big(kMaxMessageSize + 64);
  Fill(slot_, ResponseStatus::kResourceLimit, 0, kMaxMessageSize);
  EXPECT_EQ(DecodeResponse(slot_, big, kCallId, Expecting::kCall, &out_), "");
  Fill(slot_, ResponseStatus::kResourceLimit, 0, kMaxMessageSize + 1);
  EXPECT_NE(DecodeResponse(slot_, big, kCallId, Expecting::kCall, &out_).find("message size 4097 exceeds"),
            std::string::npos);
}

TEST_F(DecoderTest, RejectsMessageLargerThanTheTrustedCapacity) {
  Fill(slot_, ResponseStatus::kInitFailed, 0, kAreaSize + 1, 1);
  EXPECT_NE(Decode(Expecting::kHello), "");
}

// A stream report of call kCallId: `ready` bytes, `announced` hinted.
std::uint64_t Report(std::uint64_t ready, std::uint64_t call_id = kCallId) {
  return (call_id & 0xFFFF'FFFF) << 32 | ready;
}

TEST(StreamStepTest, AcceptsMoreOutputAndClampsTheHint) {
  StreamStep step{};
  EXPECT_EQ(DecodeStreamStep(Report(100), 200, kCallId, kAreaSize, 40, &step), "");
  EXPECT_EQ(step.ready, 100u);
  EXPECT_EQ(step.announced, 200u);
  // A hint below what is ready, or past the area, is not believed.
  EXPECT_EQ(DecodeStreamStep(Report(100), 3, kCallId, kAreaSize, 40, &step), "");
  EXPECT_EQ(step.announced, 100u);
  EXPECT_EQ(DecodeStreamStep(Report(kAreaSize), 0xFFFF'FFFF, kCallId, kAreaSize, 40, &step), "");
  EXPECT_EQ(step.ready, kAreaSize);
  EXPECT_EQ(step.announced, kAreaSize);
}

TEST(StreamStepTest, IgnoresOtherCallsAndReportsOfNothingNew) {
  StreamStep step{};
  EXPECT_EQ(DecodeStreamStep(Report(100, kCallId - 1), 100, kCallId, kAreaSize, 0, &step), "");
  EXPECT_EQ(DecodeStreamStep(Report(0xFFFF'FFFF, kCallId + 1), 0, kCallId, kAreaSize, 0, &step), "");
  EXPECT_EQ(DecodeStreamStep(Report(40), 100, kCallId, kAreaSize, 40, &step), "");
  EXPECT_EQ(step.ready, 0u) << "no report of news may fill the step";
}

TEST(StreamStepTest, RejectsMoreThanTheTrustedCapacity) {
  StreamStep step{};
  const std::string violation = DecodeStreamStep(Report(kAreaSize + 1), 0, kCallId, kAreaSize, 0, &step);
  EXPECT_NE(violation.find("streamed size 257 exceeds the response capacity 256"), std::string::npos) << violation;
  EXPECT_EQ(step.ready, 0u);
}

TEST(StreamStepTest, RejectsAReportThatGoesBack) {
  StreamStep step{};
  const std::string violation = DecodeStreamStep(Report(10), 10, kCallId, kAreaSize, 40, &step);
  EXPECT_NE(violation.find("went back from 40 to 10"), std::string::npos) << violation;
  EXPECT_EQ(step.ready, 0u);
}

TEST(StreamStepTest, TheFinalSizeMayNotBeLessThanWhatWasStreamed) {
  EXPECT_EQ(CheckStreamedSize(40, 40), "");
  EXPECT_EQ(CheckStreamedSize(41, 40), "");
  const std::string violation = CheckStreamedSize(39, 40);
  EXPECT_NE(violation.find("output size 39 is less than the 40 bytes streamed"), std::string::npos) << violation;
}

TEST(CopyOutMessageTest, ReplacesControlCharacters) {
  const std::string raw = std::string("a\tb\nc\rd") + '\0' + "e\x1b[31mf\x7fg\xc3\xa9";
  const std::string copy = CopyOutMessage(std::as_bytes(std::span(raw)));
  EXPECT_EQ(copy, "a?b?c?d?e?[31mf?g\xc3\xa9");
}

// Replay of the fuzz target. Its input format is described in decoder_fuzz.cc:
// the slot image, byte 32 choosing what is expected, then the data area.
using Input = std::vector<std::uint8_t>;

std::vector<Input> SeedCorpus() {
  std::vector<Input> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(SV_DECODER_CORPUS_DIR)) {
    std::ifstream file(entry.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  return seeds;
}

// Whether DecodeResponse accepts `input` read the fuzz target's way.
bool Accepted(const Input& input) {
  alignas(ResponseSlot) std::byte image[sizeof(ResponseSlot)] = {};
  std::memcpy(image, input.data(), std::min(input.size(), sizeof image));
  const auto* slot = reinterpret_cast<const ResponseSlot*>(image);
  const auto control = std::to_integer<unsigned>(image[32]);
  std::uint64_t id = slot->call_id.load(std::memory_order_relaxed);
  if ((control & 2) != 0) std::memcpy(&id, image + 40, sizeof id);
  const Expecting expecting = (control & 1) != 0 ? Expecting::kCall : Expecting::kHello;
  const auto data = std::as_bytes(std::span(input)).subspan(std::min(input.size(), sizeof image));
  DecodedResponse out{};
  return DecodeResponse(*slot, data, id, expecting, &out).empty();
}

TEST(DecoderFuzzReplayTest, SeedCorpusIsValidResponses) {
  const std::vector<Input> seeds = SeedCorpus();
  ASSERT_GE(seeds.size(), 7u) << "expected at least one seed per status in " << SV_DECODER_CORPUS_DIR;
  for (const Input& seed : seeds) {
    EXPECT_TRUE(Accepted(seed));
    LLVMFuzzerTestOneInput(seed.data(), seed.size());
  }
}

// Sizes and statuses at the edges the decoder checks.
std::uint32_t Interesting(std::mt19937& rng, std::size_t data_size) {
  const std::uint32_t values[] = {0, 1, 7, 8, kMaxMessageSize, kMaxMessageSize + 1, 0xFFFFFFFF,
                                  static_cast<std::uint32_t>(data_size), static_cast<std::uint32_t>(data_size + 1),
                                  static_cast<std::uint32_t>(data_size - 1)};
  return values[rng() % std::size(values)];
}

// A seed with a few fields or bytes changed and its data area resized.
Input Mutate(Input input, std::mt19937& rng) {
  input.resize(rng() % 2 == 0 ? input.size() : rng() % (input.size() + 128));
  if (input.size() < sizeof(ResponseSlot)) return input;
  for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) {
    // status, plugin_code, output_size, message_size; the bytes taken so far;
    // the stream report's size, call id and announced size.
    static constexpr std::size_t kFields[] = {16, 20, 24, 28, 36, 48, 52, 56};
    const std::size_t field = kFields[rng() % std::size(kFields)];
    const std::uint32_t value = Interesting(rng, input.size() - sizeof(ResponseSlot));
    if (rng() % 2 == 0) {
      std::memcpy(input.data() + field, &value, sizeof value);
    } else {
      input[rng() % input.size()] = static_cast<std::uint8_t>(rng());
    }
  }
  return input;
}

TEST(DecoderFuzzReplayTest, SurvivesSeededVariationsOfTheCorpus) {
  const std::vector<Input> seeds = SeedCorpus();
  ASSERT_FALSE(seeds.empty());
  std::mt19937 rng(20240611);
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 5000; ++i) {
    const Input input = Mutate(seeds[i % seeds.size()], rng);
    (Accepted(input) ? accepted : rejected) += 1;
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  // Both outcomes must be exercised, or the replay proves little.
  EXPECT_GT(accepted, 500);
  EXPECT_GT(rejected, 500);
}

}  // namespace
}  // namespace sv::ipc
