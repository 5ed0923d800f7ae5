#include "base/io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace sv {
namespace {

struct Pipe {
  UniqueFd r, w;
};
Pipe MakePipe() {
  int fds[2];
  SV_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

TEST(IoTest, WriteAllThenReadFullRoundTripsMoreThanAPipeHolds) {
  Pipe p = MakePipe();
  std::vector<std::byte> out(1 << 20);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::byte(i * 7);
  std::jthread writer([&] { ASSERT_TRUE(WriteAll(p.w.get(), out)); });
  std::vector<std::byte> in(out.size());
  ASSERT_TRUE(ReadFull(p.r.get(), in));
  EXPECT_EQ(in, out);
}

TEST(IoTest, ReadFullReportsEarlyEndOfFile) {
  Pipe p = MakePipe();
  ASSERT_TRUE(WriteAll(p.w.get(), std::as_bytes(std::span("ab", 2))));
  p.w.Reset();
  std::byte buf[4];
  auto r = ReadFull(p.r.get(), buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kClosed);
}

TEST(IoTest, ErrorsNameTheDescriptorAndErrno) {
  std::byte buf[1];
  auto r = ReadSome(-1, buf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno(), EBADF);
  EXPECT_NE(r.error().ToString().find("read fd=-1"), std::string::npos);
}

}  // namespace
}  // namespace sv
