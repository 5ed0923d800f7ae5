// StopEventFd: an eventfd that becomes readable when a stop is requested, for
// threads that own their poll or epoll set (an event loop). No signals involved.
#pragma once

#include <expected>
#include <memory>
#include <stop_token>

#include "base/error.h"
#include "base/unique_fd.h"

namespace sv::stop {

// Put fd() in the poll/epoll set next to the loop's own descriptors; when it is
// readable, the token was stopped. Race-free because the eventfd keeps its count:
// a stop that comes before the loop polls leaves it readable. Thread-safe; the
// stop callback is unregistered (waiting for it to finish) on destruction.
class StopEventFd {
 public:
  // kSystem when eventfd(2) fails.
  [[nodiscard]] static std::expected<std::unique_ptr<StopEventFd>, Error> Create(
      std::stop_token token);

  StopEventFd(const StopEventFd&) = delete;
  StopEventFd& operator=(const StopEventFd&) = delete;

  int fd() const { return fd_.get(); }

 private:
  struct Signaller {
    int fd;
    void operator()() const noexcept;
  };
  StopEventFd(std::stop_token token, UniqueFd fd);

  UniqueFd fd_;
  std::stop_callback<Signaller> callback_;
};

}  // namespace sv::stop
