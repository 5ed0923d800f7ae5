// Owners of shared memory for the channel: a memfd's mapping, unmapped on
// destruction. Used in both processes.
#pragma once

#include <cstddef>
#include <expected>
#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace sv::ipc::internal {

// One mmap(MAP_SHARED) of a whole memfd. Move-only.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* base, std::size_t size) : base_(base), size_(size) {}
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  ~Mapping();

  std::byte* base() const { return static_cast<std::byte*>(base_); }
  std::size_t size() const { return size_; }

  template <class T>
  T* At(std::size_t offset) const {
    return reinterpret_cast<T*>(base() + offset);
  }

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
};

// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) of `size` bytes.
[[nodiscard]] std::expected<UniqueFd, Error> CreateMemfd(const char* name, std::size_t size);
// Maps all `size` bytes of `fd` shared, read-write or read-only.
[[nodiscard]] std::expected<Mapping, Error> Map(int fd, std::size_t size, bool writable);
// Adds F_SEAL_* `seals` to a memfd.
[[nodiscard]] Status Seal(int fd, int seals);

}  // namespace sv::ipc::internal
