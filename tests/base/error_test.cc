#include "base/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace sv {
namespace {

TEST(ErrorTest, FromErrnoCarriesCodeErrnoAndReadableMessage) {
  Error e = Error::FromErrno("memfd_create pool=zlib worker=3", EMFILE);
  EXPECT_EQ(e.code(), ErrorCode::kSystem);
  EXPECT_EQ(e.sys_errno(), EMFILE);
  EXPECT_EQ(e.ToString(), "memfd_create pool=zlib worker=3: Too many open files (errno 24)");
}

TEST(ErrorTest, TimeoutErrnoMapsToDeadlineExceeded) {
  EXPECT_EQ(Error::FromErrno("futex", ETIMEDOUT).code(), ErrorCode::kDeadlineExceeded);
}

TEST(ErrorTest, WithoutErrnoToStringIsTheMessage) {
  Error e(ErrorCode::kStopped, "recv fd=3: stop requested");
  EXPECT_TRUE(e.stopped());
  EXPECT_EQ(e.ToString(), "recv fd=3: stop requested");
  EXPECT_EQ(ErrorCodeName(e.code()), "Stopped");
}

TEST(ErrorTest, WorksWithExpected) {
  auto f = [](bool ok) -> std::expected<int, Error> {
    if (!ok) return Fail(ErrorCode::kInvalidArgument, "bad");
    return 7;
  };
  EXPECT_EQ(f(true).value(), 7);
  EXPECT_EQ(f(false).error().code(), ErrorCode::kInvalidArgument);
}

TEST(ErrorDeathTest, CheckAbortsWithExpression) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(SV_CHECK(1 + 1 == 3), "check failed: 1 \\+ 1 == 3");
}

}  // namespace
}  // namespace sv
