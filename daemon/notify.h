// systemd's readiness protocol without libsystemd: one datagram per message to
// the AF_UNIX socket named by $NOTIFY_SOCKET ("READY=1", "STATUS=...",
// "WATCHDOG=1"). A no-op when the variable is unset. Used by the daemon.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"

namespace sv::daemon {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC (honouring WATCHDOG_PID) from the
  // environment. A path starting with '@' is in the abstract namespace.
  static Notifier FromEnvironment();
  // For tests: notify `socket_path` (empty: disabled).
  explicit Notifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog = std::nullopt);

  bool enabled() const { return !path_.empty(); }
  // How often systemd expects WATCHDOG=1; nullopt when it does not.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

  // Sends `state` (newline-separated assignments) as one datagram.
  [[nodiscard]] Status Send(std::string_view state) const;

  // READY=1 for a reload's end carries no MONOTONIC_USEC; RELOADING=1 does.
  [[nodiscard]] Status Ready(std::string_view status) const;
  [[nodiscard]] Status Reloading() const;
  [[nodiscard]] Status Stopping() const;
  [[nodiscard]] Status Watchdog() const { return Send("WATCHDOG=1"); }

 private:
  std::string path_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace sv::daemon
