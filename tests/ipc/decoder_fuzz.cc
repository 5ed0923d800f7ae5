// libFuzzer target for the trusted side's response decoder (ipc/decoder.h): a
// hostile worker's slot and data area, checked against an independent oracle.
// Built with clang 14 by tests/fuzz/CMakeLists.txt (`./run fuzz`), and with g++
// into ipc_decoder_test, which replays it over decoder_corpus/.
//
// Input: bytes [0, 64) are the ResponseSlot image as the worker left it in
// shared memory (zero-padded when short); bytes [64, end) are the data area,
// exactly that large. Bytes [32, 48) lie in the slot's padding, which the
// decoder never reads, and say what the trusted side expects: byte 32 what it
// waits for (bit 0 clear = the hello, set = a call; bit 1 clear = the slot's
// own call id, so the id check passes, set = the id in bytes [40, 48)), bytes
// [36, 40) how many output bytes it took from stream reports so far (at most
// the data area). The stream report, `streamed` and `announced`, is judged
// too, as the call path's spin does.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "ipc/decoder.h"
#include "ipc/layout.h"

// A broken invariant: say which, then crash so libFuzzer keeps the input.
#define SV_FUZZ_CHECK(cond)                                                        \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "decoder_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                            \
    }                                                                              \
  } while (0)

namespace sv::ipc {
namespace {

constexpr std::size_t kSlotSize = sizeof(ResponseSlot);
constexpr std::size_t kControlOffset = 32;
constexpr std::size_t kCopiedOffset = 36;
constexpr std::size_t kWantedIdOffset = 40;
static_assert(offsetof(ResponseSlot, message_size) + 4 <= kControlOffset &&
                  kWantedIdOffset + 8 <= offsetof(ResponseSlot, streamed),
              "control bytes must be slot padding");

// The slot's fields read from the input bytes, not through the atomics, so the
// oracle does not share the decoder's view.
struct Fields {
  std::uint64_t call_id;
  std::uint32_t status;
  std::int32_t plugin_code;
  std::uint32_t output_size;
  std::uint32_t message_size;
};

template <class T>
T LoadAt(const std::byte* image, std::size_t offset) {
  T value;
  std::memcpy(&value, image + offset, sizeof value);
  return value;
}

Fields ReadFields(const std::byte* image) {
  return {LoadAt<std::uint64_t>(image, offsetof(ResponseSlot, call_id)),
          LoadAt<std::uint32_t>(image, offsetof(ResponseSlot, status)),
          LoadAt<std::int32_t>(image, offsetof(ResponseSlot, plugin_code)),
          LoadAt<std::uint32_t>(image, offsetof(ResponseSlot, output_size)),
          LoadAt<std::uint32_t>(image, offsetof(ResponseSlot, message_size))};
}

struct Wanted {
  std::uint64_t call_id;
  Expecting expecting;
};

Wanted ReadWanted(const std::byte* image, const Fields& fields) {
  const auto control = std::to_integer<unsigned>(image[kControlOffset]);
  const Expecting expecting = (control & 1) != 0 ? Expecting::kCall : Expecting::kHello;
  const std::uint64_t id = (control & 2) != 0 ? LoadAt<std::uint64_t>(image, kWantedIdOffset) : fields.call_id;
  return {id, expecting};
}

bool StatusAllowed(std::uint32_t status, Expecting expecting) {
  static constexpr ResponseStatus kHello[] = {ResponseStatus::kReady, ResponseStatus::kInitFailed};
  static constexpr ResponseStatus kCall[] = {ResponseStatus::kOk, ResponseStatus::kPluginError,
                                             ResponseStatus::kOutputTooLarge, ResponseStatus::kResourceLimit,
                                             ResponseStatus::kBadRequest};
  const std::span<const ResponseStatus> allowed =
      expecting == Expecting::kHello ? std::span<const ResponseStatus>(kHello) : std::span<const ResponseStatus>(kCall);
  return std::any_of(allowed.begin(), allowed.end(),
                     [status](ResponseStatus s) { return static_cast<std::uint32_t>(s) == status; });
}

// The oracle: the payload size a correct decoder hands out, or nullopt if it
// must reject the response.
std::optional<std::size_t> AcceptedPayloadSize(const Fields& f, std::size_t data_size, const Wanted& wanted) {
  if (f.call_id != wanted.call_id || !StatusAllowed(f.status, wanted.expecting)) return std::nullopt;
  switch (static_cast<ResponseStatus>(f.status)) {
    case ResponseStatus::kReady:
      return 0;
    case ResponseStatus::kOk:
      if (f.output_size > data_size) return std::nullopt;
      return f.output_size;
    default:
      if (f.message_size > data_size || f.message_size > kMaxMessageSize) return std::nullopt;
      return f.message_size;
  }
}

bool IsMessage(ResponseStatus status) { return status != ResponseStatus::kOk && status != ResponseStatus::kReady; }

// Copies must hold the payload's bytes; the message copy must hold no control
// character (it ends up in logs) and change nothing else.
void CheckCopies(std::span<const std::byte> payload) {
  const std::string copy = CopyOut(payload);
  SV_FUZZ_CHECK(copy.size() == payload.size());
  SV_FUZZ_CHECK(copy.empty() || std::memcmp(copy.data(), payload.data(), copy.size()) == 0);
  const std::string message = CopyOutMessage(payload);
  SV_FUZZ_CHECK(message.size() == copy.size());
  for (std::size_t i = 0; i < message.size(); ++i) {
    const auto c = static_cast<unsigned char>(message[i]);
    SV_FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    SV_FUZZ_CHECK(message[i] == copy[i] || message[i] == '?');
  }
}

void CheckAccepted(const DecodedResponse& out, const Fields& f, std::span<const std::byte> data,
                   std::size_t payload_size) {
  SV_FUZZ_CHECK(static_cast<std::uint32_t>(out.status) == f.status);
  SV_FUZZ_CHECK(out.payload.size() == payload_size);
  // Every payload starts the data area and stays inside it.
  SV_FUZZ_CHECK(out.payload.size() <= data.size());
  SV_FUZZ_CHECK(out.payload.empty() || out.payload.data() == data.data());
  SV_FUZZ_CHECK(!IsMessage(out.status) || out.payload.size() <= kMaxMessageSize);
  SV_FUZZ_CHECK(out.plugin_code == (IsMessage(out.status) ? f.plugin_code : 0));
  CheckCopies(out.payload);
}

// Judges the stream report the way Channel::Wait does and holds the verdict to
// an oracle; takes the bytes a report says are ready, and checks the final
// output size against what was taken.
void CheckStream(const std::byte* image, const Fields& fields, std::span<const std::byte> data,
                 const Wanted& wanted) {
  const auto streamed = LoadAt<std::uint64_t>(image, offsetof(ResponseSlot, streamed));
  const auto announced = LoadAt<std::uint32_t>(image, offsetof(ResponseSlot, announced));
  const std::size_t copied = std::min<std::size_t>(LoadAt<std::uint32_t>(image, kCopiedOffset), data.size());
  StreamStep step{};
  const std::string violation = DecodeStreamStep(streamed, announced, wanted.call_id, data.size(), copied, &step);

  const bool ours = static_cast<std::uint32_t>(streamed >> 32) == static_cast<std::uint32_t>(wanted.call_id);
  const std::size_t ready = static_cast<std::uint32_t>(streamed);
  SV_FUZZ_CHECK(violation.empty() == (!ours || (ready <= data.size() && ready >= copied)));
  const bool news = ours && ready <= data.size() && ready > copied;
  SV_FUZZ_CHECK((step.ready != 0) == news);
  if (news) {
    SV_FUZZ_CHECK(step.ready == ready);
    SV_FUZZ_CHECK(step.announced >= ready && step.announced <= data.size());
    SV_FUZZ_CHECK(announced < ready || announced > data.size() || step.announced == announced);
    // What Channel::TakeStreamed copies: inside the area (ASan reports otherwise).
    const std::string taken = CopyOut(data.subspan(copied, step.ready - copied));
    SV_FUZZ_CHECK(taken.size() == step.ready - copied);
  }
  SV_FUZZ_CHECK(CheckStreamedSize(fields.output_size, copied).empty() == (fields.output_size >= copied));
}

// Decodes one input the way Channel::Await does and holds the outcome to the
// oracle: same verdict, and an accepted payload that is safe to use.
void DecodeOne(const std::uint8_t* bytes, std::size_t size) {
  alignas(ResponseSlot) std::byte image[kSlotSize] = {};
  if (size > 0) std::memcpy(image, bytes, std::min(size, kSlotSize));
  // The data area gets a heap block of exactly its size, so ASan reports a
  // read one byte past it.
  const std::size_t data_size = size > kSlotSize ? size - kSlotSize : 0;
  const auto area = std::make_unique<std::byte[]>(data_size);
  if (data_size > 0) std::memcpy(area.get(), bytes + kSlotSize, data_size);
  const std::span<const std::byte> data(area.get(), data_size);

  // Viewed the way Channel views its mapping of the response region.
  const auto* slot = reinterpret_cast<const ResponseSlot*>(image);
  const Fields fields = ReadFields(image);
  const Wanted wanted = ReadWanted(image, fields);
  DecodedResponse out{};
  const std::string violation = DecodeResponse(*slot, data, wanted.call_id, wanted.expecting, &out);

  const std::optional<std::size_t> expected = AcceptedPayloadSize(fields, data_size, wanted);
  SV_FUZZ_CHECK(violation.empty() == expected.has_value());
  if (expected) CheckAccepted(out, fields, data, *expected);
  if (wanted.expecting == Expecting::kCall) CheckStream(image, fields, data, wanted);

  // The call path's inline fast path accepts exactly what DecodeResponse
  // accepts as kOk for a call, and decodes it alike.
  if (wanted.expecting != Expecting::kCall) return;
  DecodedResponse fast{};
  const bool ok = violation.empty() && out.status == ResponseStatus::kOk;
  SV_FUZZ_CHECK(DecodeOk(*slot, data, wanted.call_id, &fast) == ok);
  if (ok) {
    SV_FUZZ_CHECK(fast.status == out.status && fast.plugin_code == out.plugin_code);
    SV_FUZZ_CHECK(fast.payload.data() == out.payload.data() && fast.payload.size() == out.payload.size());
  }
}

}  // namespace
}  // namespace sv::ipc

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  sv::ipc::DecodeOne(bytes, size);
  return 0;
}
