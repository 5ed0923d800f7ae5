#include "base/error.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sv {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInternal: return "Internal";
    case ErrorCode::kSystem: return "System";
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kUnsupported: return "Unsupported";
    case ErrorCode::kInUse: return "InUse";
    case ErrorCode::kStopped: return "Stopped";
    case ErrorCode::kDeadlineExceeded: return "DeadlineExceeded";
    case ErrorCode::kClosed: return "Closed";
    case ErrorCode::kPayloadTooLarge: return "PayloadTooLarge";
    case ErrorCode::kProtocolViolation: return "ProtocolViolation";
    case ErrorCode::kPluginError: return "PluginError";
    case ErrorCode::kWorkerCrashed: return "WorkerCrashed";
    case ErrorCode::kResourceLimit: return "ResourceLimit";
    case ErrorCode::kBadConfig: return "BadConfig";
    case ErrorCode::kPoolStopped: return "PoolStopped";
    case ErrorCode::kOverloaded: return "Overloaded";
    case ErrorCode::kStartFailed: return "StartFailed";
  }
  return "Unknown";
}

Error Error::FromErrno(std::string_view what, int err) {
  ErrorCode code = ErrorCode::kSystem;
  if (err == ETIMEDOUT) code = ErrorCode::kDeadlineExceeded;
  return Error(code, std::string(what), err);
}

std::string Error::ToString() const {
  std::string out = message_;
  if (sys_errno_ != 0) {
    char buf[128];
    // GNU strerror_r returns the message, possibly not in buf.
    const char* text = strerror_r(sys_errno_, buf, sizeof buf);
    out += ": ";
    out += text;
    out += " (errno " + std::to_string(sys_errno_) + ")";
  }
  return out;
}

namespace internal {
void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
  std::abort();
}
}  // namespace internal

}  // namespace sv
