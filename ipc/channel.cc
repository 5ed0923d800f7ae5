#include "ipc/channel.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "ipc/internal/futex.h"

namespace sv::ipc {
namespace {

using Clock = std::chrono::steady_clock;

void WriteHeader(RegionHeader* header, RegionKind kind, std::uint32_t data_offset, std::uint32_t capacity) {
  header->magic.store(kMagic, std::memory_order_relaxed);
  header->layout_version.store(kLayoutVersion, std::memory_order_relaxed);
  header->kind.store(static_cast<std::uint32_t>(kind), std::memory_order_relaxed);
  header->data_offset.store(data_offset, std::memory_order_relaxed);
  header->data_capacity.store(capacity, std::memory_order_relaxed);
}

std::int64_t DeadlineNanos(Deadline deadline) {
  std::optional<timespec> ts = deadline.AbsoluteTimespec();
  if (!ts) return INT64_MAX;
  return std::int64_t{ts->tv_sec} * 1'000'000'000 + ts->tv_nsec;
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

  // The worker maps the request region read-only: F_SEAL_FUTURE_WRITE refuses
  // every writable mapping after ours, write(2), and mprotect to writable.
  auto request = internal::CreateRegion(options.name + "-request", RequestRegionSize(request_capacity_),
                                        F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
  if (!request) return std::unexpected(request.error());
  // The worker writes the response region, but cannot resize it under our mapping.
  auto response = internal::CreateRegion(options.name + "-response", ResponseRegionSize(response_capacity_),
                                         F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  if (!response) return std::unexpected(response.error());
  request_fd_ = std::move(request->fd);
  request_ = std::move(request->map);
  response_fd_ = std::move(response->fd);
  response_ = std::move(response->map);

  WriteHeader(request_.At<RegionHeader>(0), RegionKind::kRequest, kDataOffset, request_capacity_);
  WriteHeader(response_.At<RegionHeader>(0), RegionKind::kResponse, kDataOffset, response_capacity_);
  request_slot_ = request_.At<RequestSlot>(kSlotOffset);
  response_slot_ = response_.At<ResponseSlot>(kSlotOffset);
  // The hello is call 1: the worker waits for the doorbell to move past it.
  request_slot_->doorbell.store(1, std::memory_order_relaxed);
  request_slot_->call_id.store(1, std::memory_order_relaxed);
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
  return error;
}

Status Channel::CheckUsable(std::string_view method, std::size_t input_size) const {
  if (leased_) return Fail(ErrorCode::kInUse, "channel busy: the previous response is still leased");
  if (!broken_.empty()) return Fail(ErrorCode::kClosed, "channel unusable after: " + broken_);
  // Whatever a dead worker left in the response region is not an answer.
  if (peer_dead()) return Fail(ErrorCode::kWorkerCrashed, "the worker is dead");
  if (method.size() > kMaxMethodSize) {
    return Fail(ErrorCode::kInvalidArgument, "method name of " + std::to_string(method.size()) +
                                                 " bytes exceeds the limit of " + std::to_string(kMaxMethodSize));
  }
  if (input_size > request_capacity_) {
    return Fail(ErrorCode::kPayloadTooLarge, "request of " + std::to_string(input_size) +
                                                 " bytes exceeds the channel's request capacity of " +
                                                 std::to_string(request_capacity_) + " bytes");
  }
  return {};
}

void Channel::Post(RequestKind kind, std::string_view method, std::size_t input_size, Deadline deadline) {
  ++call_id_;
  char* method_at = method.size() <= kInlineMethodSize ? request_slot_->method_inline
                                                       : reinterpret_cast<char*>(request_.base() + kDataOffset + kMethodOffset);
  if (!method.empty()) std::memcpy(method_at, method.data(), method.size());
  request_slot_->call_id.store(call_id_, std::memory_order_relaxed);
  request_slot_->deadline_ns.store(DeadlineNanos(deadline), std::memory_order_relaxed);
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

std::expected<DecodedResponse, Error> Channel::Await(Expecting expecting, Deadline deadline) {
  const auto want = static_cast<std::uint32_t>(call_id_);
  const auto& bell = response_slot_->doorbell;
  const Clock::time_point start = Clock::now();
  // The spin never outlasts the deadline.
  const Clock::time_point spin_end = std::min(start + spin_.Budget(), deadline.when());
  bool caught_spinning = true;

  // Spin: check the doorbell, and the clock every few rounds.
  for (unsigned round = 0; bell.load(std::memory_order_acquire) != want; ++round) {
    if ((round & 7) == 7 && (Clock::now() >= spin_end || peer_dead())) {
      caught_spinning = false;
      break;
    }
    CpuRelax();
  }
  // Sleep: announce it, then re-check (seq_cst pairs with the worker's
  // doorbell store and its load of caller_sleeping).
  while (!caught_spinning) {
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
  // Only the sleep path set the flag; storing it needlessly would pull the
  // cache line away from a worker spinning on the doorbell next to it.
  if (!caught_spinning) request_slot_->caller_sleeping.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  spin_.Record(Clock::now() - start, caught_spinning);

  std::span<const std::byte> data(response_.base() + kDataOffset, response_capacity_);
  DecodedResponse decoded{};
  std::string violation = DecodeResponse(*response_slot_, data, call_id_, expecting, &decoded);
  if (!violation.empty()) return std::unexpected(Break(Error(ErrorCode::kProtocolViolation, violation)));
  return decoded;
}

Status Channel::WaitReady(Deadline deadline) {
  if (call_id_ != 0) return Fail(ErrorCode::kInUse, "WaitReady called twice");
  call_id_ = 1;  // the hello is call 1; the worker answers it unasked
  auto response = Await(Expecting::kHello, deadline);
  if (!response) return std::unexpected(response.error());
  if (response->status == ResponseStatus::kInitFailed) {
    return std::unexpected(Break(ResponseError(*response, response_capacity_)));
  }
  return {};
}

std::expected<std::span<const std::byte>, Error> Channel::Finish(std::string_view method, std::size_t input_size,
                                                                 Deadline deadline) {
  if (call_id_ == 0) return Fail(ErrorCode::kInUse, "call before WaitReady");
  Post(RequestKind::kCall, method, input_size, deadline);
  auto response = Await(Expecting::kCall, deadline);
  if (!response) return std::unexpected(response.error());
  if (response->status != ResponseStatus::kOk) return std::unexpected(ResponseError(*response, response_capacity_));
  return response->payload;
}

std::expected<std::string, Error> Channel::Call(std::string_view method, std::string_view input, Deadline deadline) {
  if (Status s = CheckUsable(method, input.size()); !s) return std::unexpected(s.error());
  if (!input.empty()) std::memcpy(InputArea().data(), input.data(), input.size());
  auto output = Finish(method, input.size(), deadline);
  if (!output) return std::unexpected(output.error());
  return CopyOut(*output);
}

std::expected<ResponseLease, Error> Channel::CallInPlace(std::string_view method, std::size_t input_size,
                                                         Deadline deadline) {
  if (Status s = CheckUsable(method, input_size); !s) return std::unexpected(s.error());
  auto output = Finish(method, input_size, deadline);
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
  return {};
}

}  // namespace sv::ipc
