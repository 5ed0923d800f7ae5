// The sqlite example plugin in a real sv-worker: state kept across calls, the
// output format, SQL errors, and a query that never ends, which only the
// caller's deadline and SIGKILL stop.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "tests/helpers/worker_process.h"
#include "tests/helpers/worker_testing.h"

namespace sv::testing {
namespace {

std::unique_ptr<WorkerProcess> StartSqlite(SpawnOptions options = DefaultSpawnOptions("sqlite")) {
  return StartForTest(std::move(options));
}

// Runs `sql`; the output, or "error: ..." so that a failure shows in the comparison.
std::string Query(WorkerProcess& w, const std::string& sql) {
  auto out = w.channel().Call("query", sql, Soon());
  return out ? *out : "error: " + out.error().ToString();
}

TEST(SqlitePluginTest, KeepsTheDatabaseAcrossCalls) {
  auto w = StartSqlite();
  ASSERT_TRUE(w);
  EXPECT_EQ(Query(*w, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)"), "");
  EXPECT_EQ(Query(*w, "INSERT INTO t VALUES (1, 'alice'); INSERT INTO t VALUES (2, NULL);"), "");
  EXPECT_EQ(Query(*w, "SELECT id, name FROM t ORDER BY id"), "id\tname\n1\talice\n2\tNULL\n");
  EXPECT_EQ(Query(*w, "SELECT name FROM t WHERE id > 5"), "name\n");
}

TEST(SqlitePluginTest, WritesEveryResultOfSeveralStatementsInOrder) {
  auto w = StartSqlite();
  ASSERT_TRUE(w);
  EXPECT_EQ(Query(*w, "SELECT 1 AS a; CREATE TABLE u(x); SELECT 2 AS b, 3 AS c; -- done"),
            "a\n1\nb\tc\n2\t3\n");
}

TEST(SqlitePluginTest, EscapesSeparatorsAndWritesBlobsAsHex) {
  auto w = StartSqlite();
  ASSERT_TRUE(w);
  EXPECT_EQ(Query(*w, "SELECT 'a' || char(9) || 'b' || char(10) || 'c\\d' AS \"x\ty\", x'00ff10', 1.5"),
            "x\\ty\tx'00ff10'\t1.5\na\\tb\\nc\\\\d\tX'00FF10'\t1.5\n");
}

TEST(SqlitePluginTest, SqlErrorsArePluginErrorsWithSqlitesCode) {
  auto w = StartSqlite();
  ASSERT_TRUE(w);
  auto syntax = w->channel().Call("query", "SELEKT 1", Soon());
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code(), ErrorCode::kPluginError) << syntax.error().ToString();
  EXPECT_EQ(syntax.error().plugin_code(), SQLITE_ERROR);
  EXPECT_NE(syntax.error().message().find("syntax error"), std::string::npos) << syntax.error().ToString();

  EXPECT_EQ(Query(*w, "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)"), "");
  auto duplicate = w->channel().Call("query", "INSERT INTO t VALUES (1)", Soon());
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kPluginError) << duplicate.error().ToString();
  EXPECT_EQ(duplicate.error().plugin_code(), SQLITE_CONSTRAINT_PRIMARYKEY) << duplicate.error().ToString();

  EXPECT_EQ(Query(*w, "SELECT count(*) AS n FROM t"), "n\n1\n");
}

TEST(SqlitePluginTest, OutOfMemoryUnderTheAddressSpaceLimitIsAResourceLimit) {
  if (kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer's shadow memory exceeds any address-space limit";
  SpawnOptions options = DefaultSpawnOptions("sqlite");
  options.worker.limits.address_space = 256ull << 20;
  auto w = StartSqlite(options);
  ASSERT_TRUE(w);
  // About 1 GB of blobs in the in-memory database.
  auto out = w->channel().Call("query",
                               "CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c "
                               "LIMIT 1000) SELECT randomblob(1000000) AS b FROM c",
                               Soon());
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kResourceLimit) << out.error().ToString();
  // The failed statement was rolled back: the worker and its database serve on.
  EXPECT_EQ(Query(*w, "SELECT count(*) AS n FROM sqlite_schema"), "n\n0\n");
}

TEST(SqlitePluginTest, EndlessQueryRunsUntilTheDeadlineThenDiesBySigkill) {
  auto w = StartSqlite();
  ASSERT_TRUE(w);
  auto endless = w->channel().Call(
      "query", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
      Deadline::After(std::chrono::milliseconds(300)));
  ASSERT_FALSE(endless);
  EXPECT_EQ(endless.error().code(), ErrorCode::kDeadlineExceeded) << endless.error().ToString();

  // Still computing: only SIGKILL ends it, and the exit says so.
  ASSERT_TRUE(w->Signal(SIGKILL));
  auto exit = w->Wait(Soon());
  ASSERT_TRUE(exit) << exit.error().ToString();
  EXPECT_TRUE(exit->signaled) << exit->ToString();
  EXPECT_EQ(exit->code, SIGKILL) << exit->ToString();

  auto fresh = StartSqlite();
  ASSERT_TRUE(fresh);
  EXPECT_EQ(Query(*fresh, "SELECT 41 + 1 AS answer"), "answer\n42\n");
}

}  // namespace
}  // namespace sv::testing
