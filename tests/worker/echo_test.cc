// sv-worker with the echo plugin, end to end through a real channel.
#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "tests/helpers/worker_process.h"
#include "tests/helpers/worker_testing.h"

namespace sv::testing {
namespace {

TEST(EchoWorkerTest, EchoesAndStopsGracefully) {
  auto w = WorkerProcess::Start(DefaultSpawnOptions("echo"), Soon());
  ASSERT_TRUE(w) << w.error().ToString();
  auto out = (*w)->channel().Call("echo", "hello", Soon());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(*out, "hello");
  ASSERT_TRUE((*w)->channel().RequestStop());
  auto exit = (*w)->Wait(Soon());
  ASSERT_TRUE(exit) << exit.error().ToString();
  EXPECT_FALSE(exit->signaled);
  EXPECT_EQ(exit->code, 0);
}

}  // namespace
}  // namespace sv::testing
