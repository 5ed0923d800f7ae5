// EINTR-safe read/write helpers over plain descriptors. No stop support: for
// reads that must be stoppable, use stop/calls.h.
#pragma once

#include <cstddef>
#include <expected>
#include <span>

#include "base/error.h"

namespace sv {

// One read(2), retried on EINTR. Returns the bytes read; 0 means end of file.
[[nodiscard]] std::expected<std::size_t, Error> ReadSome(int fd, std::span<std::byte> buf);
// Reads until `buf` is full. kClosed if end of file comes first.
[[nodiscard]] Status ReadFull(int fd, std::span<std::byte> buf);
// One write(2), retried on EINTR. Returns the bytes written.
[[nodiscard]] std::expected<std::size_t, Error> WriteSome(int fd, std::span<const std::byte> buf);
// Writes all of `buf`, continuing after short writes.
[[nodiscard]] Status WriteAll(int fd, std::span<const std::byte> buf);

}  // namespace sv
