// Tests for supervisor/cgroup.h with real cgroups and
// real processes. Skipped where cgroup v2 cannot be used (CgroupTree::Open says
// kUnsupported).
#include "supervisor/cgroup.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <span>
#include <string>
#include <thread>

#include "base/deadline.h"
#include "base/io.h"
#include "base/unique_fd.h"
#include "tests/helpers/pidfd.h"

namespace sv::supervisor {
namespace {

using namespace std::chrono_literals;

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Moves the calling process into `cgroup` (as a worker started elsewhere
// than in its cgroup would join it). False when the kernel refused.
bool Join(const std::string& cgroup) {
  const int fd = open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, "0\n", 2) == 2;
  close(fd);
  return ok;
}

// The processes a test starts in a worker cgroup: `child` joined it with
// Join(); `grandchild` (0 if not asked for) was forked there and left the
// process group with setsid(). Both wait in pause() until killed.
struct Family {
  pid_t child = -1;
  pid_t grandchild = 0;
  // Opened while the grandchild runs: once it is gone (reaped by init, not
  // by us) its pid may belong to another test's process (pid_max can be 32768).
  UniqueFd grandchild_pidfd;
  bool ready = false;  // every member joined and reported its pid
};

// Runs in the forked child; never returns. The test process is
// single-threaded, so allocating here is safe.
[[noreturn]] void RunChild(const std::string& cgroup, int ready_fd, bool with_grandchild) {
  if (!Join(cgroup)) _exit(111);
  const pid_t self = getpid();
  if (write(ready_fd, &self, sizeof self) != sizeof self) _exit(111);
  if (with_grandchild) {
    const pid_t grandchild = fork();
    if (grandchild < 0) _exit(111);
    if (grandchild == 0) {
      setsid();
      const pid_t me = getpid();
      if (write(ready_fd, &me, sizeof me) != sizeof me) _exit(111);
    }
  }
  for (;;) pause();
}

// Reads one pid from the handshake pipe, waiting until `deadline`; -1 on
// timeout or end of file.
pid_t ReadPid(int fd, Deadline deadline) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, deadline.RemainingMillis()) != 1) return -1;
  pid_t pid = -1;
  // Writes of a pid are atomic (< PIPE_BUF): readable means all of it is there.
  if (!ReadFull(fd, std::as_writable_bytes(std::span(&pid, 1)))) return -1;
  return pid;
}

// Starts a Family in `cgroup` and waits until every member has joined it.
Family StartFamily(const std::string& cgroup, bool with_grandchild) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  Family family;
  family.child = fork();
  if (family.child == 0) RunChild(cgroup, write_end.get(), with_grandchild);
  write_end.Reset();  // so that a dead child shows as end of file
  const Deadline deadline = Deadline::After(20s);
  if (family.child < 0 || ReadPid(read_end.get(), deadline) != family.child) return family;
  if (with_grandchild) {
    family.grandchild = ReadPid(read_end.get(), deadline);
    if (family.grandchild > 0) family.grandchild_pidfd = testing::PidfdOpen(family.grandchild);
  }
  family.ready = !with_grandchild || (family.grandchild > 0 && family.grandchild_pidfd);
  return family;
}

// Waits for `pid` (a child of this process) and returns its wait status.
int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

class CgroupTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tree = CgroupTree::Open("sv-test");
    if (!tree && tree.error().code() == ErrorCode::kUnsupported) {
      GTEST_SKIP() << "no cgroup v2 here: " << tree.error().ToString();
    }
    ASSERT_TRUE(tree) << tree.error().ToString();
    tree_ = std::move(*tree);
  }

  // Waits up to 2 s for `cgroup` to hold no process; returns the last count.
  std::size_t WaitEmpty(const std::string& cgroup) {
    const Deadline deadline = Deadline::After(2s);
    for (;;) {
      auto count = tree_->ProcessCount(cgroup);
      if (!count) {
        ADD_FAILURE() << count.error().ToString();
        return SIZE_MAX;
      }
      if (*count == 0 || deadline.Expired()) return *count;
      std::this_thread::sleep_for(1ms);  // bounded polling: the kernel gives no event here
    }
  }

  std::unique_ptr<CgroupTree> tree_;
};

TEST(KillScopeTest, NamesAreWhatStatusShows) {
  EXPECT_EQ(KillScopeName(KillScope::kCgroup), "cgroup");
  EXPECT_EQ(KillScopeName(KillScope::kProcessGroup), "process group");
}

TEST_F(CgroupTreeTest, OpenCreatesSubtreeNamedAfterHintAndPid) {
  EXPECT_TRUE(IsDirectory(tree_->root()));
  EXPECT_TRUE(tree_->root().ends_with("/sv-test-" + std::to_string(getpid()))) << tree_->root();
  EXPECT_EQ(access((tree_->root() + "/cgroup.kill").c_str(), F_OK), 0);
}

// The hint is checked before anything else: this runs without cgroup v2 too.
TEST(CgroupTreeOpenTest, RejectsHintWithSlash) {
  auto tree = CgroupTree::Open("a/b");
  ASSERT_FALSE(tree);
  EXPECT_EQ(tree.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CgroupTreeTest, CreateWorkerNamesPoolSlotAndGeneration) {
  auto path = tree_->CreateWorker("zlib", 3, 17);
  ASSERT_TRUE(path) << path.error().ToString();
  EXPECT_EQ(*path, tree_->root() + "/zlib.3.17");
  EXPECT_TRUE(IsDirectory(*path));
  auto count = tree_->ProcessCount(*path);
  ASSERT_TRUE(count) << count.error().ToString();
  EXPECT_EQ(*count, 0u);
  ASSERT_TRUE(tree_->Remove(*path));
  EXPECT_FALSE(IsDirectory(*path));
}

TEST_F(CgroupTreeTest, CreateWorkerRejectsBadPoolNames) {
  for (const char* pool : {"", "a/b", "..", "a\nb"}) {
    auto path = tree_->CreateWorker(pool, 0, 0);
    ASSERT_FALSE(path) << pool;
    EXPECT_EQ(path.error().code(), ErrorCode::kInvalidArgument) << pool;
  }
}

TEST_F(CgroupTreeTest, CreateWorkerTwiceFailsWithExist) {
  ASSERT_TRUE(tree_->CreateWorker("zlib", 0, 1));
  auto again = tree_->CreateWorker("zlib", 0, 1);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().sys_errno(), EEXIST);
}

TEST_F(CgroupTreeTest, KillAndRemoveRejectForeignCgroups) {
  EXPECT_EQ(tree_->Kill(tree_->root()).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree_->Remove(tree_->root()).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CgroupTreeTest, KillReachesGrandchildThatCalledSetsid) {
  auto path = tree_->CreateWorker("zlib", 3, 17);
  ASSERT_TRUE(path) << path.error().ToString();
  const Family family = StartFamily(*path, /*with_grandchild=*/true);
  ASSERT_TRUE(family.ready);
  EXPECT_EQ(getsid(family.grandchild), family.grandchild);  // out of our session and process group
  EXPECT_EQ(tree_->ProcessCount(*path).value_or(0), 2u);

  ASSERT_TRUE(tree_->Kill(*path));
  const int status = Reap(family.child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(WaitEmpty(*path), 0u);
  EXPECT_TRUE(testing::Exited(family.grandchild_pidfd.get(), Deadline::After(2s)))
      << "grandchild " << family.grandchild << " survived";
  EXPECT_TRUE(tree_->Remove(*path));
  EXPECT_FALSE(IsDirectory(*path));
}

TEST_F(CgroupTreeTest, RemoveIsBusyWhileAProcessRemains) {
  auto path = tree_->CreateWorker("sqlite", 0, 1);
  ASSERT_TRUE(path) << path.error().ToString();
  const Family family = StartFamily(*path, /*with_grandchild=*/false);
  ASSERT_TRUE(family.ready);
  Status busy = tree_->Remove(*path);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), ErrorCode::kInUse);
  EXPECT_EQ(busy.error().sys_errno(), EBUSY);

  ASSERT_TRUE(tree_->Kill(*path));
  Reap(family.child);
  EXPECT_EQ(WaitEmpty(*path), 0u);
  Status removed = tree_->Remove(*path);
  EXPECT_TRUE(removed) << removed.error().ToString();
}

TEST_F(CgroupTreeTest, DestructorKillsWhatIsLeftAndRemovesEverything) {
  auto path = tree_->CreateWorker("zlib", 1, 2);
  ASSERT_TRUE(path) << path.error().ToString();
  ASSERT_TRUE(tree_->CreateWorker("zlib", 2, 2));  // an empty one too
  const Family family = StartFamily(*path, /*with_grandchild=*/true);
  ASSERT_TRUE(family.ready);
  const std::string root = tree_->root();

  tree_.reset();
  const int status = Reap(family.child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(testing::Exited(family.grandchild_pidfd.get(), Deadline::After(2s)))
      << "grandchild " << family.grandchild << " survived";
  EXPECT_FALSE(IsDirectory(root));
}

}  // namespace
}  // namespace sv::supervisor
