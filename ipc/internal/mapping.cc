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
  if (this != &other) {
    this->~Mapping();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (base_ != nullptr) munmap(base_, size_);
}

std::expected<UniqueFd, Error> CreateMemfd(const char* name, std::size_t size) {
  UniqueFd fd(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return FailErrno(std::string("memfd_create ") + name, errno);
  if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return FailErrno(std::string("ftruncate memfd ") + name + " to " + std::to_string(size), errno);
  }
  return fd;
}

std::expected<Mapping, Error> Map(int fd, std::size_t size, bool writable) {
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* base = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    return FailErrno("mmap fd=" + std::to_string(fd) + " size=" + std::to_string(size), errno);
  }
  return Mapping(base, size);
}

Status Seal(int fd, int seals) {
  if (fcntl(fd, F_ADD_SEALS, seals) != 0) {
    return FailErrno("fcntl F_ADD_SEALS fd=" + std::to_string(fd), errno);
  }
  return {};
}

}  // namespace sv::ipc::internal
