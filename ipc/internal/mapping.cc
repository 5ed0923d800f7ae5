#include "ipc/internal/mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace sv::ipc::internal {

Mapping::Mapping(Mapping&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  std::swap(base_, other.base_);
  std::swap(size_, other.size_);
  return *this;  // `other` unmaps what we held
}

Mapping::~Mapping() {
  if (base_ != nullptr) munmap(base_, size_);
}

std::expected<Mapping, Error> Map(int fd, std::size_t size, bool writable) {
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* base = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    return FailErrno("mmap fd=" + std::to_string(fd) + " size=" + std::to_string(size), errno);
  }
  return Mapping(base, size);
}

std::expected<Region, Error> CreateRegion(const std::string& name, std::size_t size, int seals,
                                          std::span<const std::byte> head) {
  UniqueFd fd(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return FailErrno("memfd_create " + name, errno);
  if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return FailErrno("ftruncate memfd " + name + " to " + std::to_string(size), errno);
  }
  SV_CHECK(head.size() <= size);
  if (pwrite(fd.get(), head.data(), head.size(), 0) != static_cast<ssize_t>(head.size())) {
    return FailErrno("pwrite memfd " + name, errno);
  }
  auto map = Map(fd.get(), size, true);
  if (!map) return std::unexpected(map.error());
  if (fcntl(fd.get(), F_ADD_SEALS, seals) != 0) return FailErrno("fcntl F_ADD_SEALS memfd " + name, errno);
  return Region{std::move(fd), std::move(*map)};
}

}  // namespace sv::ipc::internal
