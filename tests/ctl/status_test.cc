// ctl/status.h: the API's pool JSON read into structs, supervisord-shaped rows
// and table, uptime spelling, and the LSB exit code.
#include "ctl/status.h"

#include <gtest/gtest.h>

#include "ctl/commands.h"

namespace sv::ctl {
namespace {

// docs/api.md's example pool.
constexpr std::string_view kZlib = R"({
  "name": "zlib", "state": "RUNNING", "desired_workers": 2, "ready_workers": 2,
  "waiting_callers": 0, "calls": 1200, "failures": {"DeadlineExceeded": 1},
  "restarts": 1, "kills": 1, "last_error": "", "kill_scope": "cgroup",
  "spawner": "zygote", "zygote_pid": 4100, "logs_dropped": {"stdout": 0, "stderr": 0},
  "workers": [
    {"id": "zlib:0", "slot": 0, "state": "READY", "pid": 4101, "uptime_ms": 62000,
     "calls": 600, "generation": 1, "rss_bytes": 1323008, "last_exit": null},
    {"id": "zlib:1", "slot": 1, "state": "BUSY", "pid": 4133, "uptime_ms": 1500,
     "calls": 3, "generation": 2, "rss_bytes": 1310720, "last_exit": "killed by SIGKILL"}
  ]})";

constexpr std::string_view kStopped = R"({"name": "echo", "state": "STOPPED", "desired_workers": 1,
  "ready_workers": 0, "calls": 5, "last_error": "",
  "workers": [{"id": "echo:0", "slot": 0, "state": "STOPPED", "pid": 0, "uptime_ms": 0, "calls": 5,
               "last_exit": "exited 0"}]})";

TEST(ParsePoolStatusTest, ReadsTheDocumentedExample) {
  auto pool = ParsePoolStatus(kZlib);
  ASSERT_TRUE(pool) << pool.error();
  EXPECT_EQ(pool->name, "zlib");
  EXPECT_EQ(pool->state, "RUNNING");
  EXPECT_EQ(pool->calls, 1200u);
  EXPECT_EQ(pool->restarts, 1u);
  ASSERT_EQ(pool->workers.size(), 2u);
  EXPECT_EQ(pool->workers[1].slot, 1u);
  EXPECT_EQ(pool->workers[1].pid, 4133);
  EXPECT_EQ(pool->workers[1].last_exit, "killed by SIGKILL");
  EXPECT_EQ(pool->workers[0].last_exit, "");
}

TEST(ParsePoolStatusTest, NamesAMissingOrMistypedField) {
  EXPECT_EQ(ParsePoolStatus(R"({"name": "x"})").error(),
            "unexpected answer from the daemon: missing field \"state\"");
  EXPECT_EQ(ParsePoolStatus(R"({"name": "x", "state": "RUNNING", "desired_workers": "2"})").error(),
            "unexpected answer from the daemon: field \"desired_workers\" is not an integer");
  EXPECT_FALSE(ParsePoolStatus("[1]"));
  EXPECT_FALSE(ParsePoolStatus("not json"));
}

TEST(ParsePoolStatusTest, NamesTheByteWhereBrokenJsonStops) {
  const std::string error = ParsePoolStatus(R"({"name": })").error();
  EXPECT_TRUE(error.starts_with("unexpected answer from the daemon: invalid JSON at byte 9: ")) << error;
  EXPECT_TRUE(ParsePoolStatus("").error().starts_with("unexpected answer from the daemon: invalid JSON at byte 0: "));
}

TEST(ParsePoolStatusTest, RejectsIntegersBeyondInt64AndFractions) {
  const std::string head = R"({"name": "x", "state": "RUNNING", "desired_workers": )";
  EXPECT_EQ(ParsePoolStatus(head + "18446744073709551615}").error(),
            "unexpected answer from the daemon: field \"desired_workers\" is not an integer");
  EXPECT_EQ(ParsePoolStatus(head + "2.0}").error(),
            "unexpected answer from the daemon: field \"desired_workers\" is not an integer");
}

TEST(ParsePoolListTest, ReadsPoolsInOrder) {
  auto pools = ParsePoolList(R"({"pools": [)" + std::string(kStopped) + ", " + std::string(kZlib) + "]}");
  ASSERT_TRUE(pools) << pools.error();
  ASSERT_EQ(pools->size(), 2u);
  EXPECT_EQ((*pools)[0].name, "echo");
  EXPECT_EQ((*pools)[1].name, "zlib");
  EXPECT_EQ(ParsePoolList(R"({"pools": []})")->size(), 0u);
  EXPECT_FALSE(ParsePoolList(R"({"pool": []})"));
}

TEST(FormatUptimeTest, SpellsHoursMinutesSecondsAndDays) {
  using std::chrono::milliseconds;
  EXPECT_EQ(FormatUptime(milliseconds(62'000)), "0:01:02");
  EXPECT_EQ(FormatUptime(milliseconds(999)), "0:00:00");
  EXPECT_EQ(FormatUptime(milliseconds(36'000'000)), "10:00:00");
  EXPECT_EQ(FormatUptime(milliseconds(93'600'000)), "1 day, 2:00:00");
  EXPECT_EQ(FormatUptime(milliseconds(3 * 86'400'000 + 61'000)), "3 days, 0:01:01");
  EXPECT_EQ(FormatUptime(milliseconds(-5)), "0:00:00");
}

TEST(StatusLinesTest, PoolSummaryThenOneLinePerWorker) {
  auto lines = StatusLines(*ParsePoolStatus(kZlib));
  ASSERT_TRUE(lines);
  EXPECT_EQ(*lines, (std::vector<StatusLine>{
                        {"zlib", "RUNNING", "2/2 ready, 1200 calls, 1 restart"},
                        {"zlib:0", "READY", "pid 4101, uptime 0:01:02"},
                        {"zlib:1", "BUSY", "pid 4133, uptime 0:00:01"},
                    }));
}

TEST(StatusLinesTest, StoppedWorkerShowsItsLastExit) {
  auto lines = StatusLines(*ParsePoolStatus(kStopped));
  EXPECT_EQ((*lines)[0], (StatusLine{"echo", "STOPPED", "0/1 ready, 5 calls"}));
  EXPECT_EQ((*lines)[1], (StatusLine{"echo:0", "STOPPED", "exited 0"}));
}

TEST(StatusLinesTest, OneSlotOrNoneWhenTheSlotIsUnknown) {
  const PoolStatus pool = *ParsePoolStatus(kZlib);
  EXPECT_EQ(StatusLines(pool, 1), (std::vector<StatusLine>{{"zlib:1", "BUSY", "pid 4133, uptime 0:00:01"}}));
  EXPECT_FALSE(StatusLines(pool, 2));
}

TEST(StatusLinesTest, PoolLineShowsWaitingCallersAndLastError) {
  PoolStatus pool = *ParsePoolStatus(kZlib);
  pool.waiting_callers = 3;
  pool.restarts = 0;
  pool.calls = 1;
  pool.last_error = "plugin init failed";
  EXPECT_EQ((*StatusLines(pool))[0].description, "2/2 ready, 1 call, 3 waiting; last error: plugin init failed");
}

TEST(FormatStatusTableTest, AlignsColumns) {
  EXPECT_EQ(FormatStatusTable({{"zlib", "RUNNING", "2/2 ready, 0 calls"},
                               {"zlib:0", "READY", "pid 1, uptime 0:00:01"},
                               {"zlib:1", "STOPPED", ""}}),
            "zlib     RUNNING   2/2 ready, 0 calls\n"
            "zlib:0   READY     pid 1, uptime 0:00:01\n"
            "zlib:1   STOPPED\n");
  EXPECT_EQ(FormatStatusTable({}), "");
}

TEST(IsRunningTest, NeedsEveryWorkerReadyOrBusyAndThePoolRunning) {
  PoolStatus pool = *ParsePoolStatus(kZlib);
  EXPECT_TRUE(IsRunning(pool));
  pool.workers[1].state = "BACKOFF";
  EXPECT_FALSE(IsRunning(pool));
  EXPECT_TRUE(IsRunning(pool, 0));
  EXPECT_FALSE(IsRunning(pool, 1));
  EXPECT_FALSE(IsRunning(pool, 7));
  EXPECT_FALSE(IsRunning(*ParsePoolStatus(kStopped)));
}

TEST(StatusExitCodeTest, FollowsSupervisordLsbCodes) {
  EXPECT_EQ(StatusExitCode(false, true), kExitOk);
  EXPECT_EQ(StatusExitCode(false, false), kExitNotRunning);
  EXPECT_EQ(StatusExitCode(true, true), kExitUnknown);
  EXPECT_EQ(StatusExitCode(true, false), kExitUnknown);
}

}  // namespace
}  // namespace sv::ctl
