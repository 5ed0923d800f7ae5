#include "base/io.h"

#include <unistd.h>

#include <cerrno>

namespace sv {

std::expected<std::size_t, Error> ReadSome(int fd, std::span<std::byte> buf) {
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return FailErrno("read fd=" + std::to_string(fd), errno);
  }
}

Status ReadFull(int fd, std::span<std::byte> buf) {
  while (!buf.empty()) {
    auto n = ReadSome(fd, buf);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return Fail(ErrorCode::kClosed, "read fd=" + std::to_string(fd) + ": end of file");
    buf = buf.subspan(*n);
  }
  return {};
}

std::expected<std::size_t, Error> WriteSome(int fd, std::span<const std::byte> buf) {
  for (;;) {
    ssize_t n = ::write(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return FailErrno("write fd=" + std::to_string(fd), errno);
  }
}

Status WriteAll(int fd, std::span<const std::byte> buf) {
  while (!buf.empty()) {
    auto n = WriteSome(fd, buf);
    if (!n) return std::unexpected(n.error());
    buf = buf.subspan(*n);
  }
  return {};
}

}  // namespace sv
