// SignalSafeStopSource: a std::stop_source whose stop may be requested from a
// signal handler (e.g. SIGTERM). Used by the supervisor's main thread.
#pragma once

#include <atomic>
#include <expected>
#include <memory>
#include <stop_token>
#include <thread>

#include "base/error.h"
#include "base/unique_fd.h"

namespace sv::stop {

// std::stop_source::request_stop() takes a lock and runs callbacks, so calling it
// from a signal handler can deadlock. RequestStop() here only writes to an
// eventfd, which is async-signal-safe; a small relay thread owned by this object
// then calls request_stop() on the wrapped source. Tokens come from the wrapped
// std::stop_source, so they work with every stop-aware call and std::jthread.
// Thread-safe. The destructor joins the relay without requesting a stop.
class SignalSafeStopSource {
 public:
  // kSystem when the eventfd or the relay thread cannot be created.
  [[nodiscard]] static std::expected<std::unique_ptr<SignalSafeStopSource>, Error> Create();
  ~SignalSafeStopSource();

  SignalSafeStopSource(const SignalSafeStopSource&) = delete;
  SignalSafeStopSource& operator=(const SignalSafeStopSource&) = delete;

  // Async-signal-safe; preserves errno. Returns at once: the stop takes effect as
  // soon as the relay thread runs (microseconds). Repeated requests are harmless.
  void RequestStop() noexcept;

  std::stop_token get_token() const noexcept { return source_.get_token(); }
  bool stop_requested() const noexcept { return source_.stop_requested(); }

 private:
  explicit SignalSafeStopSource(UniqueFd event);
  void Relay();

  std::stop_source source_;
  UniqueFd event_;
  std::atomic<bool> closing_{false};
  std::jthread relay_;
};

}  // namespace sv::stop
