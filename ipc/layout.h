// The shared-memory layout of a call channel, as both processes see it.
// Two memfds: the request region (written by the trusted side, mapped read-only
// by the worker) and the response region (written by the worker). Offsets
// only, never pointers; every shared field is a lock-free atomic so each read
// is one load the compiler cannot repeat.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace sv::ipc {

inline constexpr std::uint64_t kMagic = 0x0001'4e41'4843'5653;  // "SVCHAN\1\0" (little endian)
inline constexpr std::uint32_t kLayoutVersion = 2;
inline constexpr std::size_t kCacheLine = 64;

// Longest method name a request carries.
inline constexpr std::uint32_t kMaxMethodSize = 256;
// Longest error message a response carries (longer ones are cut by the worker).
inline constexpr std::uint32_t kMaxMessageSize = 4096;
// Largest capacity of either area (sizes travel as 32-bit values).
inline constexpr std::uint32_t kMaxCapacity = 1u << 30;

enum class RegionKind : std::uint32_t { kRequest = 1, kResponse = 2 };

// What a request asks of the worker.
enum class RequestKind : std::uint32_t {
  kCall = 1,  // run method(input) and reply
  kStop = 2,  // shut the plugin down and exit 0; no reply
};

// What a response says. Values are part of the layout version.
enum class ResponseStatus : std::uint32_t {
  kOk = 1,              // output_size bytes of output at the data area
  kPluginError = 2,     // plugin_code + message_size bytes of message
  kOutputTooLarge = 3,  // the plugin wrote more than the response capacity
  kResourceLimit = 4,   // the plugin ran out of memory; message says which limit
  kBadRequest = 5,      // the worker could not read the request (a trusted-side bug)
  kReady = 6,           // hello (call 1): the plugin is initialised
  kInitFailed = 7,      // hello (call 1): plugin_code + message; the worker exits
};

// Offset 0 of both regions. Written by the trusted side before the worker
// starts and never again; the worker checks it on attach. The trusted side
// never reads it back: it keeps its own copy of the capacities.
struct alignas(kCacheLine) RegionHeader {
  std::atomic<std::uint64_t> magic;
  std::atomic<std::uint32_t> layout_version;
  std::atomic<std::uint32_t> kind;           // RegionKind
  std::atomic<std::uint32_t> data_offset;    // where this region's data area starts
  std::atomic<std::uint32_t> data_capacity;  // bytes in the data area
};

// Offset 64 of the request region. Written only by the trusted side; the
// worker maps it read-only. The trusted side fills the payload and the fields
// (relaxed), then stores doorbell (seq_cst) and wakes the worker if
// worker_sleeping (response region) is set.
struct alignas(kCacheLine) RequestSlot {
  std::atomic<std::uint32_t> doorbell;         // futex word: low 32 bits of call_id (1 at creation)
  std::atomic<std::uint32_t> caller_sleeping;  // 1 while the trusted side may sleep on the response doorbell (seq_cst)
  std::atomic<std::uint64_t> call_id;          // increases by one per request; 1 is the hello
  std::atomic<std::int64_t> deadline_ns;       // CLOCK_MONOTONIC, absolute; INT64_MAX: none
  std::atomic<std::uint32_t> kind;             // RequestKind
  std::atomic<std::uint32_t> method_size;      // bytes in method_inline, or at kMethodOffset if longer
  std::atomic<std::uint32_t> input_size;       // bytes at kInputOffset
  // While a large input is being copied in, how much of it is there so far:
  // tells a spinning worker to keep spinning (and to start reading it in).
  // A hint, never a size: the request is the doorbell's.
  std::atomic<std::uint32_t> input_written;
  // A method name of up to kInlineMethodSize bytes: on the doorbell's cache
  // line, so a short call costs the worker no second cache miss. Plain bytes,
  // published by the doorbell's release.
  char method_inline[24];
};
inline constexpr std::uint32_t kInlineMethodSize = sizeof(RequestSlot::method_inline);

// Offset 64 of the response region. Written only by the worker, so the
// trusted side treats every field as hostile: it loads each once and checks it
// against its own expectations (see ipc/decoder.h). The worker fills the
// payload and the fields, then stores doorbell (seq_cst) and wakes the
// trusted side if caller_sleeping is set.
struct alignas(kCacheLine) ResponseSlot {
  std::atomic<std::uint32_t> doorbell;         // futex word: low 32 bits of the answered call_id
  std::atomic<std::uint32_t> worker_sleeping;  // 1 while the worker may sleep on the request doorbell (seq_cst)
  std::atomic<std::uint64_t> call_id;          // the call this answers
  std::atomic<std::uint32_t> status;           // ResponseStatus
  std::atomic<std::int32_t> plugin_code;       // kPluginError, kInitFailed
  std::atomic<std::uint32_t> output_size;      // kOk: output bytes at the data area
  std::atomic<std::uint32_t> message_size;     // errors: message bytes at the data area
  std::uint8_t unused_[16];  // never read
  // While a large output is being written, the worker reports how much of it
  // is final so the trusted side can copy it out meanwhile: the low 32 bits of
  // the call id in the high half, bytes ready at the data area in the low half
  // (release, after the bytes). `announced` is where the write in progress will
  // end: a hint for the caller's buffer, stored before `streamed`.
  std::atomic<std::uint64_t> streamed;
  std::atomic<std::uint32_t> announced;
};

inline constexpr std::uint32_t kSlotOffset = kCacheLine;
inline constexpr std::uint32_t kDataOffset = 2 * kCacheLine;
// Request data area: the method name, then the input at a fixed offset so a
// caller can fill the input in place before it names the method.
inline constexpr std::uint32_t kMethodOffset = 0;
inline constexpr std::uint32_t kInputOffset = kMaxMethodSize;

// Bytes a region needs for a data area of `capacity` bytes.
constexpr std::size_t RequestRegionSize(std::uint32_t capacity) {
  return std::size_t{kDataOffset} + kInputOffset + capacity;
}
constexpr std::size_t ResponseRegionSize(std::uint32_t capacity) {
  return std::size_t{kDataOffset} + capacity;
}

template <class T>
constexpr bool kSharedSafe = std::is_standard_layout_v<T> && std::is_trivially_destructible_v<T>;
static_assert(kSharedSafe<RegionHeader> && kSharedSafe<RequestSlot> && kSharedSafe<ResponseSlot>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint32_t>) == 4, "futex words are 32 bits");
static_assert(sizeof(RegionHeader) == kCacheLine && sizeof(RequestSlot) == kCacheLine &&
              sizeof(ResponseSlot) == kCacheLine);
static_assert(offsetof(RequestSlot, doorbell) == 0 && offsetof(RequestSlot, call_id) == 8 &&
              offsetof(RequestSlot, deadline_ns) == 16 && offsetof(RequestSlot, input_size) == 32 &&
              offsetof(RequestSlot, input_written) == 36);
static_assert(offsetof(ResponseSlot, doorbell) == 0 && offsetof(ResponseSlot, call_id) == 8 &&
              offsetof(ResponseSlot, status) == 16 && offsetof(ResponseSlot, message_size) == 28 &&
              offsetof(ResponseSlot, streamed) == 48 && offsetof(ResponseSlot, announced) == 56);

// Large inputs and outputs move in steps of this many bytes, each reported
// (RequestSlot::input_written, ResponseSlot::streamed) while more follows, so
// that the other side works along instead of waiting for the whole.
inline constexpr std::uint32_t kStreamStep = 32 * 1024;

// The fixed fd numbers sv-worker receives its channel on (documented in docs/plugins.md).
inline constexpr int kRequestFd = 3;
inline constexpr int kResponseFd = 4;

}  // namespace sv::ipc
