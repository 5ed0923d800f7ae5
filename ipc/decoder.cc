#include "ipc/decoder.h"

#include <algorithm>
#include <cstring>

namespace sv::ipc {
namespace {

std::string Violation(std::string what) { return "worker broke the channel protocol: " + what; }

bool Allowed(std::uint32_t status, Expecting expecting) {
  switch (static_cast<ResponseStatus>(status)) {
    case ResponseStatus::kReady:
    case ResponseStatus::kInitFailed:
      return expecting == Expecting::kHello;
    case ResponseStatus::kOk:
    case ResponseStatus::kPluginError:
    case ResponseStatus::kOutputTooLarge:
    case ResponseStatus::kResourceLimit:
    case ResponseStatus::kBadRequest:
      return expecting == Expecting::kCall;
  }
  return false;
}

}  // namespace

std::string DecodeResponse(const ResponseSlot& slot, std::span<const std::byte> data, std::uint64_t call_id,
                           Expecting expecting, DecodedResponse* out) {
  // One load per field, before any check: the worker may rewrite them while
  // we look, and a second load could see a value that was never validated.
  const std::uint64_t got_id = slot.call_id.load(std::memory_order_relaxed);
  const std::uint32_t status = slot.status.load(std::memory_order_relaxed);
  const std::int32_t plugin_code = slot.plugin_code.load(std::memory_order_relaxed);
  const std::uint32_t output_size = slot.output_size.load(std::memory_order_relaxed);
  const std::uint32_t message_size = slot.message_size.load(std::memory_order_relaxed);

  if (got_id != call_id) {
    return Violation("response carries call id " + std::to_string(got_id) + ", expected " + std::to_string(call_id));
  }
  if (!Allowed(status, expecting)) {
    return Violation("response status " + std::to_string(status) + " is not valid " +
                     (expecting == Expecting::kHello ? "for the ready report" : "for a call"));
  }
  const auto kind = static_cast<ResponseStatus>(status);
  if (kind == ResponseStatus::kOk) {
    if (output_size > data.size()) {
      return Violation("output size " + std::to_string(output_size) + " exceeds the response capacity " +
                       std::to_string(data.size()));
    }
    *out = DecodedResponse{kind, 0, data.first(output_size)};
    return {};
  }
  if (kind == ResponseStatus::kReady) {
    *out = DecodedResponse{kind, 0, {}};
    return {};
  }
  const std::size_t limit = std::min<std::size_t>(kMaxMessageSize, data.size());
  if (message_size > limit) {
    return Violation("message size " + std::to_string(message_size) + " exceeds the limit " + std::to_string(limit));
  }
  *out = DecodedResponse{kind, plugin_code, data.first(message_size)};
  return {};
}

std::string DecodeStreamStep(std::uint64_t streamed, std::uint32_t announced, std::uint64_t call_id,
                             std::size_t data_size, std::size_t copied, StreamStep* step) {
  if (static_cast<std::uint32_t>(streamed >> 32) != static_cast<std::uint32_t>(call_id)) return {};
  const std::size_t ready = static_cast<std::uint32_t>(streamed);
  if (ready > data_size) {
    return Violation("streamed size " + std::to_string(ready) + " exceeds the response capacity " +
                     std::to_string(data_size));
  }
  if (ready < copied) {
    return Violation("streamed size went back from " + std::to_string(copied) + " to " + std::to_string(ready));
  }
  if (ready == copied) return {};
  *step = StreamStep{ready, std::clamp<std::size_t>(announced, ready, data_size)};
  return {};
}

std::string CheckStreamedSize(std::size_t output_size, std::size_t copied) {
  if (output_size >= copied) return {};
  return Violation("output size " + std::to_string(output_size) + " is less than the " + std::to_string(copied) +
                   " bytes streamed before it");
}

std::string CopyOut(std::span<const std::byte> bytes) {
  // One pass over the bytes (a sized constructor would zero-fill first).
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string CopyOutMessage(std::span<const std::byte> bytes) {
  std::string message = CopyOut(bytes);
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return message;
}

}  // namespace sv::ipc
