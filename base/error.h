// The error type every fallible function returns inside std::expected.
// Used in every process of the project (supervisor, workers, tools).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace sv {

// What went wrong, for a program to branch on. Add codes at the end; names are
// part of the control API's JSON.
enum class ErrorCode : std::uint8_t {
  kInternal,          // a bug on our side
  kSystem,            // a system call failed; sys_errno() says which way
  kInvalidArgument,   // the caller passed something unusable
  kUnsupported,       // this kernel, libc or architecture lacks a feature
  kInUse,             // a resource we need is already owned by someone else
  kStopped,           // a stop was requested; the call did not (fully) run
  kDeadlineExceeded,  // the caller's deadline passed first
  kClosed,            // the peer closed its end (end of file)
  kPayloadTooLarge,   // a request or response does not fit the channel's capacity
  kProtocolViolation, // the other process broke the channel protocol (untrusted peer)
  kPluginError,       // the plugin reported a failure; plugin_code() holds its code
  kWorkerCrashed,     // the worker process died during the call
  kResourceLimit,     // the worker hit one of its limits (memory, CPU time, files)
  kBadConfig,         // a config file cannot be read or is wrong; the message lists every problem
  kPoolStopped,       // the pool is stopped or stopping: no new calls
  kOverloaded,        // every worker is busy and max_queue callers already wait
  kStartFailed,       // the pool's workers cannot start (the pool is FATAL); the message says why
};

// The code's name without the leading "k", e.g. "DeadlineExceeded".
std::string_view ErrorCodeName(ErrorCode code);

// A code, a message a person can read, and the errno when a system call failed.
// Cheap to move; messages are short context strings ("recv fd=7").
class Error {
 public:
  Error(ErrorCode code, std::string message, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {}

  // A failed system call: `what` names the call and its context; `err` is errno.
  static Error FromErrno(std::string_view what, int err);

  ErrorCode code() const { return code_; }
  int sys_errno() const { return sys_errno_; }
  const std::string& message() const { return message_; }
  bool stopped() const { return code_ == ErrorCode::kStopped; }
  // The plugin's own error code when code() is kPluginError, else 0.
  std::int32_t plugin_code() const { return plugin_code_; }
  Error& set_plugin_code(std::int32_t plugin_code) {
    plugin_code_ = plugin_code;
    return *this;
  }

  // "memfd_create pool=zlib: Too many open files (errno 24)".
  std::string ToString() const;

 private:
  ErrorCode code_;
  int sys_errno_;
  std::int32_t plugin_code_ = 0;
  std::string message_;
};

using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected(Error(code, std::move(message)));
}
inline std::unexpected<Error> FailErrno(std::string_view what, int err) {
  return std::unexpected(Error::FromErrno(what, err));
}

}  // namespace sv

// Aborts with a message when an invariant is broken. Not for errors a caller
// can cause: those are returned.
#define SV_CHECK(cond)                                                  \
  do {                                                                  \
    if (!(cond)) ::sv::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace sv::internal {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace sv::internal
