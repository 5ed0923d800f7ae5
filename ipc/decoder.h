// The trusted side's reader of a worker's response: the one place that reads
// fields a (possibly hostile) worker wrote. Runs in the trusted process; fuzzed
// by tests/ipc/decoder_fuzz.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ipc/layout.h"

namespace sv::ipc {

// Which answer the trusted side is waiting for.
enum class Expecting : std::uint8_t {
  kHello,  // call 1: kReady or kInitFailed
  kCall,   // a call: kOk or one of the error statuses
};

// A response whose fields passed validation. `payload` lies inside the data
// area passed to DecodeResponse: the output for kOk, else the message. The
// bytes stay shared: the worker can still change them, so copy before parsing.
struct DecodedResponse {
  ResponseStatus status;
  std::int32_t plugin_code;
  std::span<const std::byte> payload;
};

// Loads each field of `slot` exactly once and checks it: the call id must be
// `call_id`, the status one `expecting` allows, sizes within `data` (the
// trusted side's own view of the area, never a size the worker wrote) and
// within kMaxMessageSize for messages. On success fills `out` and returns an
// empty string; otherwise returns what the worker got wrong (the caller makes
// it a kProtocolViolation). Never reads outside `slot` and `data`; never
// blocks. Free of <expected> so the fuzzer builds it with clang 14.
[[nodiscard]] std::string DecodeResponse(const ResponseSlot& slot, std::span<const std::byte> data,
                                         std::uint64_t call_id, Expecting expecting, DecodedResponse* out);

// The common case, inline, for the call path: a kOk answer to `call_id` whose
// output fits `data`. Loads the three fields it needs once each; on true fills
// `out` from those loads only. False says nothing about what is wrong: call
// DecodeResponse, which loads every field again, once, and judges the
// response on its own. The fuzz target holds this to DecodeResponse's verdict.
inline bool DecodeOk(const ResponseSlot& slot, std::span<const std::byte> data, std::uint64_t call_id,
                     DecodedResponse* out) {
  const std::uint64_t got_id = slot.call_id.load(std::memory_order_relaxed);
  const std::uint32_t status = slot.status.load(std::memory_order_relaxed);
  const std::uint32_t output_size = slot.output_size.load(std::memory_order_relaxed);
  if (got_id != call_id || status != static_cast<std::uint32_t>(ResponseStatus::kOk) || output_size > data.size()) {
    return false;
  }
  *out = DecodedResponse{ResponseStatus::kOk, 0, data.first(output_size)};
  return true;
}

// A step of an output the worker is still writing (ResponseSlot::streamed).
struct StreamStep {
  std::size_t ready;     // bytes at the data area's start that are final
  std::size_t announced; // where the output will end at least: in [ready, data size]
};

// Judges the worker's report of how much of call `call_id`'s output is final,
// given the `streamed` and `announced` values it loaded (once each) and the
// `copied` bytes the caller already took. Returns an empty string and sets
// *step when the report says more is ready (step->ready > copied), an empty
// string and leaves *step alone when it says nothing new (another call's
// report, or no more than `copied`), or a violation: more than `data` holds,
// or less than was already reported.
[[nodiscard]] std::string DecodeStreamStep(std::uint64_t streamed, std::uint32_t announced, std::uint64_t call_id,
                                           std::size_t data_size, std::size_t copied, StreamStep* step);

// Checks the final output size of a streamed call against the `copied` bytes
// reported before it: an empty string, or the violation.
[[nodiscard]] std::string CheckStreamedSize(std::size_t output_size, std::size_t copied);

// Copies shared bytes into a string the worker can no longer change.
std::string CopyOut(std::span<const std::byte> bytes);
// CopyOut for a message meant for people and logs: control characters become '?'.
std::string CopyOutMessage(std::span<const std::byte> bytes);

}  // namespace sv::ipc
