#include "stop/signal_safe_stop_source.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace sv::stop {

SignalSafeStopSource::SignalSafeStopSource(UniqueFd event) : event_(std::move(event)) {}

std::expected<std::unique_ptr<SignalSafeStopSource>, Error> SignalSafeStopSource::Create() {
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  if (!event) return FailErrno("eventfd", errno);
  std::unique_ptr<SignalSafeStopSource> source(new SignalSafeStopSource(std::move(event)));
  try {
    source->relay_ = std::jthread([s = source.get()] { s->Relay(); });
  } catch (const std::system_error& e) {
    return FailErrno("start stop relay thread", e.code().value());
  }
  return source;
}

SignalSafeStopSource::~SignalSafeStopSource() {
  closing_.store(true, std::memory_order_release);
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
  if (relay_.joinable()) relay_.join();
}

void SignalSafeStopSource::RequestStop() noexcept {
  int saved_errno = errno;
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
  errno = saved_errno;
}

// Blocks in a plain read: the destructor ends it by writing after setting closing_.
void SignalSafeStopSource::Relay() {
  std::uint64_t count = 0;
  while (::read(event_.get(), &count, sizeof count) < 0 && errno == EINTR) {
  }
  if (!closing_.load(std::memory_order_acquire)) source_.request_stop();
}

}  // namespace sv::stop
