#include "daemon/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sv::daemon {

namespace {

std::optional<std::chrono::microseconds> WatchdogFromEnvironment() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (usec == nullptr || *usec == '\0') return std::nullopt;
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid != nullptr && std::atol(pid) != getpid()) {
    return std::nullopt;  // meant for another process of the service
  }
  const long long value = std::atoll(usec);
  if (value <= 0) return std::nullopt;
  return std::chrono::microseconds(value);
}

std::uint64_t MonotonicMicros() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(now.tv_nsec) / 1000;
}

}  // namespace

Notifier Notifier::FromEnvironment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return Notifier(socket != nullptr ? socket : "", WatchdogFromEnvironment());
}

Notifier::Notifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog)
    : path_(std::move(socket_path)), watchdog_(watchdog) {
  if (path_.empty()) watchdog_.reset();
}

Status Notifier::Send(std::string_view state) const {
  if (!enabled()) return {};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(address.sun_path)) {
    return std::unexpected(Error(ErrorCode::kInvalidArgument, "NOTIFY_SOCKET too long: " + path_));
  }
  std::memcpy(address.sun_path, path_.data(), path_.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  if (path_[0] == '@') {
    address.sun_path[0] = '\0';  // abstract namespace: no trailing NUL counted
  } else {
    ++length;
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::unexpected(Error::FromErrno("socket AF_UNIX for NOTIFY_SOCKET", errno));
  const ssize_t sent = sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                              reinterpret_cast<const sockaddr*>(&address), length);
  if (sent < 0) return std::unexpected(Error::FromErrno("sendto NOTIFY_SOCKET=" + path_, errno));
  return {};
}

Status Notifier::Ready(std::string_view status) const {
  return Send("READY=1\nSTATUS=" + std::string(status));
}

Status Notifier::Reloading() const {
  return Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicMicros()) + "\nSTATUS=reloading");
}

Status Notifier::Stopping() const { return Send("STOPPING=1\nSTATUS=stopping"); }

}  // namespace sv::daemon
