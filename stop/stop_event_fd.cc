#include "stop/stop_event_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace sv::stop {

void StopEventFd::Signaller::operator()() const noexcept {
  int saved_errno = errno;
  std::uint64_t one = 1;
  // Cannot fail short of a closed descriptor: the counter never nears overflow.
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
  errno = saved_errno;
}

StopEventFd::StopEventFd(std::stop_token token, UniqueFd fd)
    : fd_(std::move(fd)), callback_(std::move(token), Signaller{fd_.get()}) {}

std::expected<std::unique_ptr<StopEventFd>, Error> StopEventFd::Create(std::stop_token token) {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return FailErrno("eventfd", errno);
  return std::unique_ptr<StopEventFd>(new StopEventFd(std::move(token), std::move(fd)));
}

}  // namespace sv::stop
