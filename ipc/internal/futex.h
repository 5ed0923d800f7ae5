// Futex doorbells of the channel: waking the other process, and the trusted
// side's wait that also ends when the worker is declared dead.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/deadline.h"
#include "base/error.h"

namespace sv::ipc::internal {

// FUTEX_WAKE (shared) of every waiter on `word`.
void WakeShared(const std::atomic<std::uint32_t>& word);
// FUTEX_WAKE (private) of every waiter on `word`.
void WakePrivate(const std::atomic<std::uint32_t>& word);

// Sleeps while the shared `word` holds `expected` and the private `dead` holds
// 0, until `deadline`. Success means "look again" (woken, value changed, or a
// signal); kDeadlineExceeded when the deadline passed. Uses futex_waitv
// (Linux 5.16); on older kernels sleeps in slices of 1 ms and polls `dead`.
[[nodiscard]] Status WaitSharedOrDead(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                                      const std::atomic<std::uint32_t>& dead, Deadline deadline);

}  // namespace sv::ipc::internal
