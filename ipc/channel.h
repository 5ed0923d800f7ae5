// The trusted side of a call channel: the supervisor's end of the shared memory
// it shares with one worker process.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/deadline.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "ipc/decoder.h"
#include "ipc/internal/mapping.h"
#include "ipc/layout.h"
#include "ipc/spin.h"

namespace sv::ipc {

struct ChannelOptions {
  std::uint32_t request_capacity = 1u << 20;   // input bytes per call
  std::uint32_t response_capacity = 4u << 20;  // output bytes per call
  SpinOptions spin;
  std::string name = "sv-channel";  // memfd name, shown in /proc/PID/fd
};

// A response of a call made in place: the output stays in the response area
// until this lease is destroyed, and the channel takes no new call until then.
// The worker could still rewrite the bytes while they are read (only a hostile
// one would): parse them defensively or copy them.
class ResponseLease {
 public:
  ResponseLease(ResponseLease&& other) noexcept;
  ResponseLease& operator=(ResponseLease&&) = delete;
  ~ResponseLease();

  std::span<const std::byte> output() const { return output_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(output_.data()), output_.size()};
  }

 private:
  friend class Channel;
  ResponseLease(class Channel* channel, std::span<const std::byte> output) : channel_(channel), output_(output) {}
  class Channel* channel_;
  std::span<const std::byte> output_;
};

// One call in flight at a time. Not thread-safe, except MarkPeerDead(), which
// any thread may call while another is inside Call().
//
// If the worker dies mid-call, the call ends at its deadline, or at once when
// the owner calls MarkPeerDead() (what the supervisor does when the worker's
// pidfd reports the death). After a deadline, a protocol violation or a dead
// peer the channel is broken: later calls fail with kClosed, and the worker is
// to be killed.
class Channel {
 public:
  // Creates both memfds, maps and seals them. The worker must be started with
  // request_fd() and response_fd() (see ipc/layout.h for the fd numbers).
  [[nodiscard]] static std::expected<std::unique_ptr<Channel>, Error> Create(const ChannelOptions& options = {});

  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel();

  // The memfds, -1 after CloseFds().
  int request_fd() const { return request_fd_.get(); }
  int response_fd() const { return response_fd_.get(); }
  // Closes the memfds once the worker has its copies; the mappings stay. A
  // supervisor of thousands of workers keeps two descriptors per worker fewer.
  // The request one can go at once; the response one is what ReadyNow() reads.
  void CloseRequestFd() { request_fd_.Reset(); }
  void CloseFds() {
    request_fd_.Reset();
    response_fd_.Reset();
  }
  std::uint32_t request_capacity() const { return request_capacity_; }
  std::uint32_t response_capacity() const { return response_capacity_; }

  // Waits for the worker's ready report (its plugin initialised). Errors:
  // kPluginError (init failed, with the plugin's code and message),
  // kDeadlineExceeded, kWorkerCrashed, kProtocolViolation.
  [[nodiscard]] Status WaitReady(Deadline deadline);
  // WaitReady without waiting, for a caller that knows the report is there
  // (the worker's ready eventfd fired): kInUse when it is not yet. Reads the
  // response region through its memfd (before CloseFds()), not the mapping, so
  // a worker that is started and never called costs this process no page.
  [[nodiscard]] Status ReadyNow();

  // Runs method(input) in the worker and copies the output out. Blocks until
  // the response, the deadline or MarkPeerDead(). Errors: kPayloadTooLarge
  // (either way; nothing is sent for an oversized request), kInvalidArgument
  // (method longer than kMaxMethodSize), kPluginError, kResourceLimit,
  // kDeadlineExceeded, kWorkerCrashed, kProtocolViolation, kClosed, kInUse.
  [[nodiscard]] std::expected<std::string, Error> Call(std::string_view method, std::string_view input,
                                                       Deadline deadline);

  // Zero-copy: the request's input area (request_capacity() bytes) to write
  // the input into before CallInPlace(). Its contents are undefined until written.
  std::span<std::byte> InputArea() const;
  // As Call(), with the first `input_size` bytes of InputArea() as the input,
  // and the output left in shared memory under the returned lease.
  [[nodiscard]] std::expected<ResponseLease, Error> CallInPlace(std::string_view method, std::size_t input_size,
                                                                Deadline deadline);

  // Asks the worker to shut its plugin down and exit 0. Does not wait.
  [[nodiscard]] Status RequestStop();

  // Declares the worker dead: a Call() waiting now, or later, returns
  // kWorkerCrashed at once. Thread-safe and async-signal-safe.
  void MarkPeerDead();
  bool peer_dead() const { return dead_.load(std::memory_order_acquire) != 0; }

  // Calls made so far (the hello included).
  std::uint64_t last_call_id() const { return call_id_; }
  // Output bytes copied out while the worker still wrote the rest (see
  // "Large payloads move in steps" in docs/ipc.md), over all calls. Thread-safe.
  std::uint64_t streamed_bytes() const { return bytes_taken_.load(std::memory_order_relaxed); }

 private:
  Channel() = default;
  [[nodiscard]] Status Init(const ChannelOptions& options);
  // Whether a call may start now; the common case in one branch.
  bool CanStart(std::string_view method, std::size_t input_size) const {
    return open_ && !leased_ && !peer_dead() && method.size() <= kMaxMethodSize && input_size <= request_capacity_;
  }
  // Why CanStart() said no.
  Error Refusal(std::string_view method, std::size_t input_size) const;
  // Copies a call's input into InputArea().
  void CopyIn(std::string_view input);
  void Post(RequestKind kind, std::string_view method, std::size_t input_size, Deadline deadline);
  // Waits for the answer to call call_id_: spins, then sleeps (Sleep()).
  // While it spins, output the worker reports ready is appended to `sink`
  // (unless null).
  [[nodiscard]] Status Wait(Deadline deadline, std::string* sink);
  // Appends to `sink` what a report (the `streamed` word loaded once) says
  // is ready beyond it; a bad report breaks the channel.
  [[nodiscard]] Status TakeStreamed(std::uint64_t streamed, std::string& sink);
  [[nodiscard]] Status Sleep(Deadline deadline);
  // The full check of a response (ipc/decoder.h); a violation breaks the channel.
  [[nodiscard]] std::expected<DecodedResponse, Error> Decode(Expecting expecting);
  [[nodiscard]] std::expected<std::span<const std::byte>, Error> Finish(std::string_view method,
                                                                        std::size_t input_size, Deadline deadline,
                                                                        std::string* sink);
  Error Break(Error error);

  friend class ResponseLease;

  UniqueFd request_fd_;
  UniqueFd response_fd_;
  internal::Mapping request_;
  internal::Mapping response_;
  RequestSlot* request_slot_ = nullptr;
  const ResponseSlot* response_slot_ = nullptr;
  std::uint32_t request_capacity_ = 0;
  std::uint32_t response_capacity_ = 0;
  std::uint64_t call_id_ = 0;
  SpinPolicy spin_;
  bool leased_ = false;
  bool open_ = false;   // ready and not broken: calls may start
  std::string broken_;  // why the channel is unusable; empty while it is usable
  std::atomic<std::uint32_t> dead_{0};  // private futex word: 1 once the peer is dead
  std::atomic<std::uint64_t> bytes_taken_{0};
};

}  // namespace sv::ipc
