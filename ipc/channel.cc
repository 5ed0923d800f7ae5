#include "ipc/channel.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <utility>

#include "ipc/internal/futex.h"

namespace sv::ipc {
namespace {

void WriteHeader(RegionHeader* header, RegionKind kind, std::uint32_t data_offset, std::uint32_t capacity) {
  header->magic.store(kMagic, std::memory_order_relaxed);
  header->layout_version.store(kLayoutVersion, std::memory_order_relaxed);
  header->kind.store(static_cast<std::uint32_t>(kind), std::memory_order_relaxed);
  header->data_offset.store(data_offset, std::memory_order_relaxed);
  header->data_capacity.store(capacity, std::memory_order_relaxed);
}

// The Error a caller sees for an error status (not kOk or kReady).
Error ResponseError(const DecodedResponse& response, std::uint32_t response_capacity) {
  const std::string message = CopyOutMessage(response.payload);
  const std::string code = std::to_string(response.plugin_code);
  switch (response.status) {
    case ResponseStatus::kPluginError:
      return Error(ErrorCode::kPluginError, "plugin error " + code + ": " + message)
          .set_plugin_code(response.plugin_code);
    case ResponseStatus::kInitFailed:
      return Error(ErrorCode::kPluginError, "worker failed to start (code " + code + "): " + message)
          .set_plugin_code(response.plugin_code);
    case ResponseStatus::kOutputTooLarge:
      return Error(ErrorCode::kPayloadTooLarge, "the plugin's response exceeds the response capacity of " +
                                                    std::to_string(response_capacity) + " bytes");
    case ResponseStatus::kResourceLimit:
      return Error(ErrorCode::kResourceLimit, "worker hit a resource limit: " + message);
    case ResponseStatus::kBadRequest:
      return Error(ErrorCode::kInternal, "worker could not read the request: " + message);
    case ResponseStatus::kOk:
    case ResponseStatus::kReady:
      break;
  }
  return Error(ErrorCode::kInternal, "ResponseError of a successful response");
}

}  // namespace

ResponseLease::ResponseLease(ResponseLease&& other) noexcept
    : channel_(std::exchange(other.channel_, nullptr)), output_(other.output_) {}

ResponseLease::~ResponseLease() {
  if (channel_ != nullptr) channel_->leased_ = false;
}

std::expected<std::unique_ptr<Channel>, Error> Channel::Create(const ChannelOptions& options) {
  std::unique_ptr<Channel> channel(new Channel());
  if (Status s = channel->Init(options); !s) return std::unexpected(s.error());
  return channel;
}

Status Channel::Init(const ChannelOptions& options) {
  if (options.request_capacity > kMaxCapacity || options.response_capacity > kMaxCapacity) {
    return Fail(ErrorCode::kInvalidArgument,
                "channel capacity over the limit of " + std::to_string(kMaxCapacity) + " bytes");
  }
  request_capacity_ = options.request_capacity;
  response_capacity_ = options.response_capacity;
  spin_ = SpinPolicy(options.spin);

  // Each region's first bytes are written through the memfd, not the
  // mapping: until the first call our page tables hold none of its pages.
  alignas(kCacheLine) std::byte request_head[kDataOffset] = {};
  alignas(kCacheLine) std::byte response_head[kDataOffset] = {};
  WriteHeader(new (request_head) RegionHeader, RegionKind::kRequest, kDataOffset, request_capacity_);
  WriteHeader(new (response_head) RegionHeader, RegionKind::kResponse, kDataOffset, response_capacity_);
  // The hello is call 1: the worker waits for the doorbell to move past it.
  auto* slot = new (request_head + kSlotOffset) RequestSlot;
  slot->doorbell.store(1, std::memory_order_relaxed);
  slot->call_id.store(1, std::memory_order_relaxed);
  // The worker maps the request region read-only: F_SEAL_FUTURE_WRITE refuses
  // every writable mapping after ours, write(2), and mprotect to writable.
  auto request = internal::CreateRegion(options.name + "-request", RequestRegionSize(request_capacity_),
                                        F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL, request_head);
  if (!request) return std::unexpected(request.error());
  // The worker writes the response region, but cannot resize it under our mapping.
  auto response = internal::CreateRegion(options.name + "-response", ResponseRegionSize(response_capacity_),
                                         F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, response_head);
  if (!response) return std::unexpected(response.error());
  request_fd_ = std::move(request->fd);
  request_ = std::move(request->map);
  response_fd_ = std::move(response->fd);
  response_ = std::move(response->map);
  request_slot_ = request_.At<RequestSlot>(kSlotOffset);
  response_slot_ = response_.At<ResponseSlot>(kSlotOffset);
  return {};
}

Channel::~Channel() {
  // A lease points into our mappings.
  SV_CHECK(!leased_);
}

std::span<std::byte> Channel::InputArea() const {
  return {request_.base() + kDataOffset + kInputOffset, request_capacity_};
}

void Channel::MarkPeerDead() {
  const int saved_errno = errno;
  dead_.store(1, std::memory_order_release);
  internal::WakePrivate(dead_);
  errno = saved_errno;
}

Error Channel::Break(Error error) {
  if (broken_.empty()) broken_ = error.message();
  open_ = false;
  return error;
}

Error Channel::Refusal(std::string_view method, std::size_t input_size) const {
  if (leased_) return Error(ErrorCode::kInUse, "channel busy: the previous response is still leased");
  if (!broken_.empty()) return Error(ErrorCode::kClosed, "channel unusable after: " + broken_);
  if (call_id_ == 0) return Error(ErrorCode::kInUse, "call before WaitReady");
  // Whatever a dead worker left in the response region is not an answer.
  if (peer_dead()) return Error(ErrorCode::kWorkerCrashed, "the worker is dead");
  if (method.size() > kMaxMethodSize) {
    return Error(ErrorCode::kInvalidArgument, "method name of " + std::to_string(method.size()) +
                                                  " bytes exceeds the limit of " + std::to_string(kMaxMethodSize));
  }
  return Error(ErrorCode::kPayloadTooLarge, "request of " + std::to_string(input_size) +
                                                " bytes exceeds the channel's request capacity of " +
                                                std::to_string(request_capacity_) + " bytes");
}

namespace {

// memcpy for at most kInlineMethodSize bytes without a library call: the
// method name is copied on every call, and the call is what the latency of an
// empty call is made of. Overlapping fixed-size copies never touch a byte
// outside [0, n).
[[gnu::always_inline]] inline void CopyShort(char* dst, const char* src, std::size_t n) {
  static_assert(kInlineMethodSize <= 32);
  if (n >= 16) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

}  // namespace

void Channel::CopyIn(std::string_view input) {
  std::byte* to = InputArea().data();
  std::size_t done = 0;
  // A large input goes in steps, each reported to a worker that may be
  // spinning: it spins on, reading in what is there, instead of falling asleep.
  while (input.size() - done > kStreamStep) {
    std::memcpy(to + done, input.data() + done, kStreamStep);
    done += kStreamStep;
    request_slot_->input_written.store(static_cast<std::uint32_t>(done), std::memory_order_relaxed);
  }
  if (input.size() != done) std::memcpy(to + done, input.data() + done, input.size() - done);
}

void Channel::Post(RequestKind kind, std::string_view method, std::size_t input_size, Deadline deadline) {
  ++call_id_;
  if (method.size() <= kInlineMethodSize) {
    CopyShort(request_slot_->method_inline, method.data(), method.size());
  } else {
    std::memcpy(request_.base() + kDataOffset + kMethodOffset, method.data(), method.size());
  }
  request_slot_->call_id.store(call_id_, std::memory_order_relaxed);
  request_slot_->deadline_ns.store(deadline.MonotonicNanos(), std::memory_order_relaxed);
  request_slot_->kind.store(static_cast<std::uint32_t>(kind), std::memory_order_relaxed);
  request_slot_->method_size.store(static_cast<std::uint32_t>(method.size()), std::memory_order_relaxed);
  request_slot_->input_size.store(static_cast<std::uint32_t>(input_size), std::memory_order_relaxed);
  // seq_cst store, then seq_cst load: either the worker sees the new doorbell
  // before it sleeps, or we see worker_sleeping and wake it.
  request_slot_->doorbell.store(static_cast<std::uint32_t>(call_id_), std::memory_order_seq_cst);
  if (response_slot_->worker_sleeping.load(std::memory_order_seq_cst) != 0) {
    internal::WakeShared(request_slot_->doorbell);
  }
}

Status Channel::Sleep(Deadline deadline) {
  const auto want = static_cast<std::uint32_t>(call_id_);
  const auto& bell = response_slot_->doorbell;
  // Announce the sleep, then re-check (seq_cst pairs with the worker's
  // doorbell store and its load of caller_sleeping).
  for (;;) {
    request_slot_->caller_sleeping.store(1, std::memory_order_seq_cst);
    const std::uint32_t seen = bell.load(std::memory_order_seq_cst);
    if (seen == want) break;
    if (peer_dead()) {
      request_slot_->caller_sleeping.store(0, std::memory_order_relaxed);
      return std::unexpected(Break(Error(ErrorCode::kWorkerCrashed,
                                         "worker died during call " + std::to_string(call_id_))));
    }
    // Checked here too, not only by the kernel: a worker that keeps changing
    // the doorbell makes every futex wait fail at once with EAGAIN, and the
    // kernel looks at the timeout only once it sleeps.
    Status s = deadline.Expired() ? Fail(ErrorCode::kDeadlineExceeded, "deadline exceeded")
                                  : internal::WaitSharedOrDead(bell, seen, dead_, deadline);
    if (!s) {
      request_slot_->caller_sleeping.store(0, std::memory_order_relaxed);
      if (s.error().code() != ErrorCode::kDeadlineExceeded) return std::unexpected(Break(s.error()));
      return std::unexpected(Break(Error(ErrorCode::kDeadlineExceeded,
                                         "call " + std::to_string(call_id_) + ": deadline exceeded")));
    }
  }
  // Only the sleep path sets the flag; storing it needlessly would pull the
  // cache line away from a worker spinning on the doorbell next to it.
  request_slot_->caller_sleeping.store(0, std::memory_order_relaxed);
  return {};
}

Status Channel::Wait(Deadline deadline, std::string* sink) {
  const auto want = static_cast<std::uint32_t>(call_id_);
  const auto& bell = response_slot_->doorbell;
  const auto& streamed = response_slot_->streamed;
  // A report of this call that says other than what we took (reports of
  // other calls, the last one's included, are no news).
  std::uint64_t taken = std::uint64_t{want} << 32;
  Status failed;
  const SpinOutcome spun = SpinWithReports(
      spin_.Budget(), deadline.when(), [&] { return bell.load(std::memory_order_acquire) == want; },
      [&] {
        if (sink == nullptr) return false;
        const std::uint64_t report = streamed.load(std::memory_order_relaxed);
        return report != taken && report >> 32 == want;
      },
      [&] {
        // Output ready: copy it while the worker writes the rest.
        const std::size_t before = sink->size();
        failed = TakeStreamed(streamed.load(std::memory_order_acquire), *sink);
        if (!failed) return Report::kFailed;
        taken = std::uint64_t{want} << 32 | sink->size();
        // A worker reports whole steps: only those buy another spin, so one
        // that reports a byte at a time cannot keep us spinning.
        return sink->size() - before >= kStreamStep ? Report::kMore : Report::kNothing;
      },
      [&] { return peer_dead(); });
  if (!failed) return failed;
  if (!spun.caught) {
    if (Status s = Sleep(deadline); !s) return s;
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  spin_.Record(spun.took, spun.caught);
  return {};
}

Status Channel::TakeStreamed(std::uint64_t streamed, std::string& sink) {
  const std::uint32_t announced = response_slot_->announced.load(std::memory_order_relaxed);
  StreamStep step{};
  const std::string violation =
      DecodeStreamStep(streamed, announced, call_id_, response_capacity_, sink.size(), &step);
  if (!violation.empty()) return std::unexpected(Break(Error(ErrorCode::kProtocolViolation, violation)));
  if (step.ready == 0) return {};  // nothing new
  if (step.announced > sink.capacity()) {
    // At least what the write in progress announced, else doubling: a
    // reallocation copies what was taken so far.
    sink.reserve(std::min<std::size_t>(std::max(step.announced, 2 * sink.capacity()), response_capacity_));
  }
  const auto* data = reinterpret_cast<const char*>(response_.base() + kDataOffset);
  bytes_taken_.fetch_add(step.ready - sink.size(), std::memory_order_relaxed);
  sink.append(data + sink.size(), step.ready - sink.size());
  return {};
}

std::expected<DecodedResponse, Error> Channel::Decode(Expecting expecting) {
  std::span<const std::byte> data(response_.base() + kDataOffset, response_capacity_);
  DecodedResponse decoded{};
  std::string violation = DecodeResponse(*response_slot_, data, call_id_, expecting, &decoded);
  if (!violation.empty()) return std::unexpected(Break(Error(ErrorCode::kProtocolViolation, violation)));
  return decoded;
}

Status Channel::WaitReady(Deadline deadline) {
  if (call_id_ != 0) return Fail(ErrorCode::kInUse, "WaitReady called twice");
  call_id_ = 1;  // the hello is call 1; the worker answers it unasked
  if (Status s = Wait(deadline, nullptr); !s) return s;
  auto response = Decode(Expecting::kHello);
  if (!response) return std::unexpected(response.error());
  if (response->status == ResponseStatus::kInitFailed) {
    return std::unexpected(Break(ResponseError(*response, response_capacity_)));
  }
  open_ = broken_.empty();
  return {};
}

Status Channel::ReadyNow() {
  if (call_id_ != 0) return Fail(ErrorCode::kInUse, "WaitReady called twice");
  if (!response_fd_) return Fail(ErrorCode::kInvalidArgument, "ReadyNow after CloseFds");
  alignas(ResponseSlot) std::byte image[sizeof(ResponseSlot)];
  if (pread(response_fd_.get(), image, sizeof image, kSlotOffset) != static_cast<ssize_t>(sizeof image)) {
    return FailErrno("pread response slot", errno);
  }
  const auto* slot = reinterpret_cast<const ResponseSlot*>(image);
  if (slot->doorbell.load(std::memory_order_relaxed) != 1) return Fail(ErrorCode::kInUse, "no ready report yet");
  // A message, if any, fits in the first kMaxMessageSize bytes of the data area.
  std::string data(std::min<std::size_t>(kMaxMessageSize, response_capacity_), '\0');
  const ssize_t n = pread(response_fd_.get(), data.data(), data.size(), kDataOffset);
  if (n != static_cast<ssize_t>(data.size())) return FailErrno("pread response data", errno);
  call_id_ = 1;
  DecodedResponse decoded{};
  const std::string violation = DecodeResponse(*slot, std::as_bytes(std::span(data)), 1, Expecting::kHello, &decoded);
  if (!violation.empty()) return std::unexpected(Break(Error(ErrorCode::kProtocolViolation, violation)));
  if (decoded.status == ResponseStatus::kInitFailed) {
    return std::unexpected(Break(ResponseError(decoded, response_capacity_)));
  }
  open_ = broken_.empty();
  return {};
}

std::expected<std::span<const std::byte>, Error> Channel::Finish(std::string_view method, std::size_t input_size,
                                                                 Deadline deadline, std::string* sink) {
  Post(RequestKind::kCall, method, input_size, deadline);
  if (Status s = Wait(deadline, sink); !s) return std::unexpected(s.error());
  DecodedResponse response;
  if (DecodeOk(*response_slot_, {response_.base() + kDataOffset, response_capacity_}, call_id_, &response))
      [[likely]] {
    return response.payload;
  }
  auto judged = Decode(Expecting::kCall);
  if (!judged) return std::unexpected(judged.error());
  if (judged->status != ResponseStatus::kOk) return std::unexpected(ResponseError(*judged, response_capacity_));
  return judged->payload;
}

std::expected<std::string, Error> Channel::Call(std::string_view method, std::string_view input, Deadline deadline) {
  if (!CanStart(method, input.size())) [[unlikely]] {
    return std::unexpected(Refusal(method, input.size()));
  }
  CopyIn(input);
  std::string streamed;  // the output's first bytes, when the worker reported them early
  auto output = Finish(method, input.size(), deadline, &streamed);
  if (!output) return std::unexpected(output.error());
  if (streamed.empty()) return output->empty() ? std::string() : CopyOut(*output);
  if (std::string violation = CheckStreamedSize(output->size(), streamed.size()); !violation.empty()) {
    return std::unexpected(Break(Error(ErrorCode::kProtocolViolation, std::move(violation))));
  }
  const std::size_t taken = streamed.size();
  streamed.reserve(output->size());
  streamed.append(reinterpret_cast<const char*>(output->data()) + taken, output->size() - taken);
  // A worker that announced more than it wrote made the buffer too large.
  if (streamed.capacity() > 2 * streamed.size() + kStreamStep) streamed.shrink_to_fit();
  return streamed;
}

std::expected<ResponseLease, Error> Channel::CallInPlace(std::string_view method, std::size_t input_size,
                                                         Deadline deadline) {
  if (!CanStart(method, input_size)) [[unlikely]] {
    return std::unexpected(Refusal(method, input_size));
  }
  auto output = Finish(method, input_size, deadline, nullptr);
  if (!output) return std::unexpected(output.error());
  leased_ = true;
  return ResponseLease(this, *output);
}

Status Channel::RequestStop() {
  if (!broken_.empty()) return Fail(ErrorCode::kClosed, "channel unusable after: " + broken_);
  if (leased_) return Fail(ErrorCode::kInUse, "channel busy: the previous response is still leased");
  if (call_id_ == 0) call_id_ = 1;  // skip the hello: the worker reads requests from call 2 on
  Post(RequestKind::kStop, {}, 0, Deadline::Infinite());
  broken_ = "a stop request";  // the worker answers no call after it
  open_ = false;
  return {};
}

}  // namespace sv::ipc
