// supervisor::Spawn with real processes: both ways of starting (posix_spawn,
// and clone3 into a cgroup), exec failures, exit information. Test process.
#include "supervisor/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "ipc/channel.h"
#include "supervisor/cgroup.h"
#include "tests/helpers/worker_process.h"

namespace sv::supervisor {
namespace {

SpawnRequest EchoRequest(const ipc::Channel& channel) {
  SpawnRequest request;
  request.worker_path = testing::WorkerPath();
  request.options.plugin = testing::PluginPath("echo");
  request.options.pool = "spawn";
  request.request_fd = channel.request_fd();
  request.response_fd = channel.response_fd();
  request.env = EnvironmentWith({{"SV_SPAWN_TEST", "1"}});
  return request;
}

TEST(SpawnTest, MissingExecutableIsAnErrorNamingIt) {
  auto channel = ipc::Channel::Create({.request_capacity = 4096, .response_capacity = 4096});
  ASSERT_TRUE(channel);
  SpawnRequest request = EchoRequest(**channel);
  request.worker_path = "/nonexistent/sv-worker";
  auto child = Spawn(request);
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().sys_errno(), ENOENT);
  EXPECT_NE(child.error().message().find("/nonexistent/sv-worker"), std::string::npos);
}

TEST(SpawnTest, StartsInsideACgroupAndReportsExecFailure) {
  if (!CanSpawnIntoCgroup()) GTEST_SKIP() << "no clone3 into a cgroup on this architecture";
  auto tree = CgroupTree::Open("sv-spawn-test");
  if (!tree) GTEST_SKIP() << tree.error().ToString();
  auto path = (*tree)->CreateWorker("spawn", 0, 1);
  ASSERT_TRUE(path) << path.error().ToString();
  UniqueFd dir(open(path->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir);
  auto channel = ipc::Channel::Create({.request_capacity = 4096, .response_capacity = 4096});
  ASSERT_TRUE(channel);
  SpawnRequest request = EchoRequest(**channel);
  request.cgroup_fd = dir.get();
  auto child = Spawn(request);
  ASSERT_TRUE(child) << child.error().ToString();
  ASSERT_TRUE((*channel)->WaitReady(Deadline::After(std::chrono::seconds(20))));
  auto count = (*tree)->ProcessCount(*path);
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 1u);  // born there: nothing moved it
  ASSERT_TRUE(SendSignal(child->pidfd.get(), SIGKILL));
  auto exit = Reap(child->pidfd.get(), true);
  ASSERT_TRUE(exit);
  EXPECT_EQ(*exit, (ExitInfo{true, SIGKILL, false}));
  EXPECT_EQ(exit->ToString(), "killed by signal 9 (SIGKILL)");

  request.worker_path = "/nonexistent/sv-worker";
  auto failed = Spawn(request);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().sys_errno(), ENOENT);
  EXPECT_NE(failed.error().message().find("execve /nonexistent/sv-worker"), std::string::npos);
}

TEST(SpawnTest, ReapWithoutBlockingSaysWhenTheProcessStillRuns) {
  auto channel = ipc::Channel::Create({.request_capacity = 4096, .response_capacity = 4096});
  ASSERT_TRUE(channel);
  auto child = Spawn(EchoRequest(**channel));
  ASSERT_TRUE(child) << child.error().ToString();
  ASSERT_TRUE((*channel)->WaitReady(Deadline::After(std::chrono::seconds(20))));
  auto running = Reap(child->pidfd.get(), false);
  ASSERT_FALSE(running);
  EXPECT_EQ(running.error().code(), ErrorCode::kInUse);
  ASSERT_TRUE((*channel)->RequestStop());
  auto exit = Reap(child->pidfd.get(), true);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->ToString(), "exited with 0");
}

TEST(SpawnTest, EnvironmentOverridesReplaceKeys) {
  setenv("SV_SPAWN_KEY", "old", 1);
  std::vector<std::string> env = EnvironmentWith({{"SV_SPAWN_KEY", "new"}});
  EXPECT_EQ(std::count(env.begin(), env.end(), "SV_SPAWN_KEY=new"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "SV_SPAWN_KEY=old"), 0);
}

}  // namespace
}  // namespace sv::supervisor
