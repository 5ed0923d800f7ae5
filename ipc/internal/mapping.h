// Owners of shared memory for the channel: a memfd's mapping, unmapped on
// destruction. Used in both processes.
#pragma once

#include <cstddef>
#include <expected>
#include <span>
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

// Maps all `size` bytes of `fd` shared, read-write or read-only.
[[nodiscard]] std::expected<Mapping, Error> Map(int fd, std::size_t size, bool writable);

// A memfd and our read-write mapping of it.
struct Region {
  UniqueFd fd;
  Mapping map;
};
// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) of `size` bytes starting
// with `head` (written with pwrite, so our page tables do not map it until we
// touch it: an idle channel costs its creator no resident memory), mapped
// read-write, then sealed with F_SEAL_* `seals`: after the mapping, so that
// F_SEAL_FUTURE_WRITE leaves ours writable and refuses any later one.
[[nodiscard]] std::expected<Region, Error> CreateRegion(const std::string& name, std::size_t size, int seals,
                                                        std::span<const std::byte> head);

}  // namespace sv::ipc::internal
