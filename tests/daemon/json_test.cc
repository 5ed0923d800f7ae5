#include "daemon/json.h"

#include <gtest/gtest.h>

namespace sv::daemon {
namespace {

TEST(DaemonJson, AnEmptyBodyIsAnEmptyObjectAndOthersMustBeObjects) {
  auto empty = ParseObject("  \r\n");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->is_object() && empty->empty());
  EXPECT_FALSE(ParseObject("[1, 2]"));
  EXPECT_FALSE(ParseObject("{\"a\": "));
  EXPECT_FALSE(ParseObject("\x01\xff"));
}

TEST(DaemonJson, IntMembersAreCheckedForTypeAndRange) {
  const JsonValue body = *ParseObject(R"({"n": 5, "s": "5", "neg": -1, "big": 18446744073709551615, "f": 1.5})");
  EXPECT_EQ(**IntMember(body, "n", 10), 5);
  EXPECT_FALSE(*IntMember(body, "absent", 10));
  EXPECT_FALSE(IntMember(body, "n", 4));
  EXPECT_FALSE(IntMember(body, "s", 10));
  EXPECT_FALSE(IntMember(body, "neg", 10));
  EXPECT_FALSE(IntMember(body, "big", 10));
  EXPECT_FALSE(IntMember(body, "f", 10));
  EXPECT_EQ(**StringMember(body, "s"), "5");
  EXPECT_FALSE(StringMember(body, "n"));
}

TEST(DaemonJson, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(Stringify(JsonValue{{"text", std::string("a\xff" "b")}}), "{\"text\":\"a\xEF\xBF\xBD" "b\"}\n");
}

TEST(DaemonJson, APoolKeepsItsKeysInOrderWithItsWorkers) {
  supervisor::PoolStatus pool;
  pool.name = "echo";
  pool.workers.push_back({.slot = 0, .state = supervisor::WorkerState::kReady, .pid = 42});
  pool.workers.push_back({.slot = 1, .state = supervisor::WorkerState::kStopped});
  const JsonValue json = PoolJson(pool);
  EXPECT_EQ(json.begin().key(), "name");
  EXPECT_EQ(json["ready_workers"], 1);
  EXPECT_EQ(json["workers"][0]["id"], "echo:0");
  EXPECT_EQ(json["workers"][0]["pid"], 42);
  EXPECT_EQ(json["workers"][1]["state"], "STOPPED");
  EXPECT_TRUE(json["workers"][1]["last_exit"].is_null());
}

}  // namespace
}  // namespace sv::daemon
