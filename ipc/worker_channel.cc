#include "ipc/worker_channel.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "ipc/internal/futex.h"
#include "stop/calls.h"

namespace sv::ipc {
namespace {

using Clock = std::chrono::steady_clock;

std::unexpected<Error> Bad(std::string what) {
  return Fail(ErrorCode::kProtocolViolation, "not a channel of layout version " +
                                                 std::to_string(kLayoutVersion) + ": " + what);
}

// Checks a region's seals and header; returns its data capacity.
std::expected<std::uint32_t, Error> CheckRegion(int fd, const internal::Mapping& map, RegionKind kind,
                                                int required_seals) {
  const char* name = kind == RegionKind::kRequest ? "request region" : "response region";
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return FailErrno(std::string("fcntl F_GET_SEALS on the ") + name, errno);
  if ((seals & required_seals) != required_seals) return Bad(std::string(name) + " is not sealed");
  const auto* header = map.At<RegionHeader>(0);
  if (header->magic.load(std::memory_order_relaxed) != kMagic) return Bad(std::string(name) + ": bad magic");
  if (header->layout_version.load(std::memory_order_relaxed) != kLayoutVersion ||
      header->kind.load(std::memory_order_relaxed) != static_cast<std::uint32_t>(kind) ||
      header->data_offset.load(std::memory_order_relaxed) != kDataOffset) {
    return Bad(std::string(name) + ": header mismatch");
  }
  const std::uint32_t capacity = header->data_capacity.load(std::memory_order_relaxed);
  const std::size_t want = kind == RegionKind::kRequest ? RequestRegionSize(capacity) : ResponseRegionSize(capacity);
  if (capacity > kMaxCapacity || want != map.size()) return Bad(std::string(name) + ": size mismatch");
  return capacity;
}

std::expected<internal::Mapping, Error> MapWhole(int fd, bool writable) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return FailErrno("fstat channel fd=" + std::to_string(fd), errno);
  if (st.st_size < static_cast<off_t>(kDataOffset)) return Bad("region of " + std::to_string(st.st_size) + " bytes");
  return internal::Map(fd, static_cast<std::size_t>(st.st_size), writable);
}

}  // namespace

std::expected<std::unique_ptr<WorkerChannel>, Error> WorkerChannel::Attach(int request_fd, int response_fd,
                                                                           SpinOptions spin) {
  std::unique_ptr<WorkerChannel> channel(new WorkerChannel());
  channel->spin_ = SpinPolicy(spin);
  if (Status s = channel->Map(request_fd, response_fd); !s) return std::unexpected(s.error());
  return channel;
}

Status WorkerChannel::Map(int request_fd, int response_fd) {
  auto request = MapWhole(request_fd, false);
  if (!request) return std::unexpected(request.error());
  request_ = std::move(*request);
  auto request_capacity = CheckRegion(request_fd, request_, RegionKind::kRequest,
                                      F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE);
  if (!request_capacity) return std::unexpected(request_capacity.error());

  auto response = MapWhole(response_fd, true);
  if (!response) return std::unexpected(response.error());
  response_ = std::move(*response);
  auto response_capacity = CheckRegion(response_fd, response_, RegionKind::kResponse, F_SEAL_SHRINK | F_SEAL_GROW);
  if (!response_capacity) return std::unexpected(response_capacity.error());

  request_capacity_ = *request_capacity;
  response_capacity_ = *response_capacity;
  request_slot_ = request_.At<RequestSlot>(kSlotOffset);
  response_slot_ = response_.At<ResponseSlot>(kSlotOffset);
  return {};
}

std::span<std::byte> WorkerChannel::OutputArea() const {
  return {response_.base() + kDataOffset, response_capacity_};
}

void WorkerChannel::Publish(std::uint64_t call_id, ResponseStatus status, std::int32_t code,
                            std::uint32_t output_size, std::string_view message) {
  const auto message_size = static_cast<std::uint32_t>(
      std::min<std::size_t>({message.size(), kMaxMessageSize, response_capacity_}));
  if (message_size != 0) std::memcpy(OutputArea().data(), message.data(), message_size);
  Ring(call_id, status, code, output_size, message_size);
}

void WorkerChannel::Ring(std::uint64_t call_id, ResponseStatus status, std::int32_t code, std::uint32_t output_size,
                         std::uint32_t message_size) {
  response_slot_->call_id.store(call_id, std::memory_order_relaxed);
  response_slot_->status.store(static_cast<std::uint32_t>(status), std::memory_order_relaxed);
  response_slot_->plugin_code.store(code, std::memory_order_relaxed);
  response_slot_->output_size.store(output_size, std::memory_order_relaxed);
  response_slot_->message_size.store(message_size, std::memory_order_relaxed);
  // seq_cst store then load: pairs with the caller's caller_sleeping store and doorbell load.
  response_slot_->doorbell.store(static_cast<std::uint32_t>(call_id), std::memory_order_seq_cst);
  if (request_slot_->caller_sleeping.load(std::memory_order_seq_cst) != 0) {
    internal::WakeShared(response_slot_->doorbell);
  }
}

void WorkerChannel::ReportReady() { Publish(1, ResponseStatus::kReady, 0, 0, {}); }

void WorkerChannel::ReportInitFailed(std::int32_t code, std::string_view message) {
  Publish(1, ResponseStatus::kInitFailed, code, 0, message);
}

void WorkerChannel::Stream(std::size_t ready, std::size_t announced) {
  SV_CHECK(ready <= announced && announced <= response_capacity_);
  response_slot_->announced.store(static_cast<std::uint32_t>(announced), std::memory_order_relaxed);
  // Release: the caller that loads this (acquire) sees the bytes before it.
  response_slot_->streamed.store(std::uint64_t{static_cast<std::uint32_t>(call_id_)} << 32 | ready,
                                 std::memory_order_release);
}

void WorkerChannel::ReplyOk(std::size_t output_size) {
  SV_CHECK(output_size <= response_capacity_);
  last_output_size_ = output_size;
  Ring(call_id_, ResponseStatus::kOk, 0, static_cast<std::uint32_t>(output_size), 0);
}

void WorkerChannel::ReplyError(ResponseStatus status, std::int32_t code, std::string_view message) {
  last_output_size_ = 0;
  Publish(call_id_, status, code, 0, message);
}

std::expected<Request, Error> WorkerChannel::Next(const std::stop_token& token) {
  const auto last = static_cast<std::uint32_t>(call_id_);
  // No spin for the first request: a pool starting a thousand workers would
  // pay a thousand budgets of CPU while nobody calls yet.
  const auto& written = request_slot_->input_written;
  std::uint32_t seen = written.load(std::memory_order_relaxed);
  std::size_t read_in = 0;  // input bytes this wait pulled into our cache
  const SpinOutcome spun = SpinWithReports(
      call_id_ == 1 ? std::chrono::nanoseconds(0) : spin_.Budget(), Clock::time_point::max(),
      [&] { return request_slot_->doorbell.load(std::memory_order_acquire) != last; },
      [&] { return written.load(std::memory_order_relaxed) != seen; },
      [&] {
        // A large input is being copied in: read in what is there (one load
        // per cache line), so the plugin finds it in our cache, and spin on.
        // Output lines alike, for writing, as far as the last answer's
        // output went: a plugin whose output grows with its input then
        // writes into lines it already owns.
        seen = written.load(std::memory_order_relaxed);
        const std::size_t upto = std::min<std::size_t>(seen, request_capacity_);
        if (upto <= read_in) return Report::kNothing;
        const volatile std::byte* input = request_.base() + kDataOffset + kInputOffset;
        std::byte* output = response_.base() + kDataOffset;
        const std::size_t output_upto = std::min(upto, last_output_size_);
        for (std::size_t at = read_in; at < upto; at += kCacheLine) {
          (void)input[at];
          if (at < output_upto) __builtin_prefetch(output + at, 1, 3);
        }
        read_in = upto;
        return Report::kMore;
      },
      [&] { return token.stop_requested(); });
  while (!spun.caught) {
    response_slot_->worker_sleeping.store(1, std::memory_order_seq_cst);
    if (request_slot_->doorbell.load(std::memory_order_seq_cst) != last) break;
    if (Status s = stop::FutexWait(token, request_slot_->doorbell, last, Deadline::Infinite(), stop::FutexScope::kShared);
        !s) {
      response_slot_->worker_sleeping.store(0, std::memory_order_relaxed);
      return std::unexpected(s.error());
    }
  }
  // Only the sleep path set the flag (see Channel::Sleep).
  if (!spun.caught) response_slot_->worker_sleeping.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  spin_.Record(spun.took, spun.caught);

  const std::uint64_t id = request_slot_->call_id.load(std::memory_order_relaxed);
  const std::uint32_t kind = request_slot_->kind.load(std::memory_order_relaxed);
  const std::uint32_t method_size = request_slot_->method_size.load(std::memory_order_relaxed);
  const std::uint32_t input_size = request_slot_->input_size.load(std::memory_order_relaxed);
  const std::int64_t deadline_ns = request_slot_->deadline_ns.load(std::memory_order_relaxed);
  const bool known_kind =
      kind == static_cast<std::uint32_t>(RequestKind::kCall) || kind == static_cast<std::uint32_t>(RequestKind::kStop);
  const bool in_sequence = id == call_id_ + 1;
  call_id_ = id;  // a kBadRequest reply answers this id
  if (!in_sequence || !known_kind || method_size > kMaxMethodSize || input_size > request_capacity_) {
    return Fail(ErrorCode::kProtocolViolation,
                "malformed request " + std::to_string(id) + " (kind " + std::to_string(kind) + ", method size " +
                    std::to_string(method_size) + ", input size " + std::to_string(input_size) + ")");
  }
  const std::byte* data = request_.base() + kDataOffset;
  return Request{static_cast<RequestKind>(kind), id, Deadline::FromMonotonicNanos(deadline_ns),
                 std::string_view(method_size <= kInlineMethodSize ? request_slot_->method_inline
                                                                   : reinterpret_cast<const char*>(data + kMethodOffset),
                                  method_size),
                 std::span<const std::byte>(data + kInputOffset, input_size)};
}

}  // namespace sv::ipc
