// The worker's end of a call channel. Runs in the worker process (sv-worker),
// which trusts the request region: the trusted side wrote it and the worker
// can only map it read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <stop_token>
#include <string_view>

#include "base/deadline.h"
#include "base/error.h"
#include "ipc/internal/mapping.h"
#include "ipc/layout.h"
#include "ipc/spin.h"

namespace sv::ipc {

// A request as the worker sees it: views into the read-only request region,
// valid until the worker replies.
struct Request {
  RequestKind kind;
  std::uint64_t call_id;
  Deadline deadline;
  std::string_view method;
  std::span<const std::byte> input;
};

// Serves one request at a time. Not thread-safe. If the trusted side dies the
// worker dies too (PR_SET_PDEATHSIG, set by sv-worker); nothing here waits for it.
class WorkerChannel {
 public:
  // Maps the regions received at `request_fd` (read-only) and `response_fd`
  // and checks their headers and seals. kProtocolViolation when they are not a
  // channel of this layout version.
  [[nodiscard]] static std::expected<std::unique_ptr<WorkerChannel>, Error> Attach(int request_fd, int response_fd,
                                                                                   SpinOptions spin = {});

  WorkerChannel(const WorkerChannel&) = delete;
  WorkerChannel& operator=(const WorkerChannel&) = delete;

  // Reports that the plugin is initialised (answers the hello, call 1).
  void ReportReady();
  // Reports that initialisation failed; the worker is to exit afterwards.
  void ReportInitFailed(std::int32_t code, std::string_view message);

  // Blocks until the next request (spinning first, as SpinOptions say). Errors:
  // kStopped when `token` is stopped (race-free, via stop/), kProtocolViolation
  // for a malformed request.
  [[nodiscard]] std::expected<Request, Error> Next(const std::stop_token& token);

  // Where a reply's output goes, response_capacity() bytes.
  std::span<std::byte> OutputArea() const;
  // Reports that the first `ready` bytes of OutputArea() are the current
  // call's final output and that it will be at least `announced` bytes long,
  // so the caller can copy them while the rest is written. Optional; for
  // outputs of more than kStreamStep bytes.
  void Stream(std::size_t ready, std::size_t announced);
  // Answers the current request with `output_size` bytes of OutputArea().
  void ReplyOk(std::size_t output_size);
  // Answers with an error status (not kOk/kReady) and a message, cut to kMaxMessageSize.
  void ReplyError(ResponseStatus status, std::int32_t code, std::string_view message);

  // The last call id seen (1 before the first request).
  std::uint64_t call_id() const { return call_id_; }

 private:
  WorkerChannel() = default;
  [[nodiscard]] Status Map(int request_fd, int response_fd);
  void Publish(std::uint64_t call_id, ResponseStatus status, std::int32_t code, std::uint32_t output_size,
               std::string_view message);
  // Fills the response slot and rings the doorbell (the message, if any, is in place).
  void Ring(std::uint64_t call_id, ResponseStatus status, std::int32_t code, std::uint32_t output_size,
            std::uint32_t message_size);

  internal::Mapping request_;
  internal::Mapping response_;
  const RequestSlot* request_slot_ = nullptr;
  ResponseSlot* response_slot_ = nullptr;
  std::uint32_t request_capacity_ = 0;
  std::uint32_t response_capacity_ = 0;
  std::uint64_t call_id_ = 1;
  std::size_t last_output_size_ = 0;  // of the last kOk answer: how much output area Next() prepares
  SpinPolicy spin_;
};

}  // namespace sv::ipc
