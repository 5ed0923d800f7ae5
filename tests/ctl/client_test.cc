// ctl/client.h against a real Unix socket served by a thread: what goes on the
// wire, answers of any status, and each way an exchange fails (no socket, a
// silent daemon, a hang-up, an answer that is not HTTP).
#include "ctl/client.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>

#include "tests/ctl/fake_daemon.h"

namespace sv::ctl {
namespace {

using namespace std::chrono_literals;
using testing::FakeDaemon;
using testing::FakeRequest;

TEST(ClientTest, SendsMethodTargetAndBodyAndReadsTheAnswer) {
  FakeDaemon daemon([](const FakeRequest&) { return FakeDaemon::Answer(200, R"({"pool": "zlib"})"); });
  auto response = Client(daemon.path()).Send("POST", "/v1/pools/zlib/scale", R"({"workers": 4})",
                                             Deadline::After(5s));
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->body, R"({"pool": "zlib"})");
  ASSERT_EQ(daemon.requests().size(), 1u);
  EXPECT_EQ(daemon.requests()[0].method, "POST");
  EXPECT_EQ(daemon.requests()[0].target, "/v1/pools/zlib/scale");
  EXPECT_EQ(daemon.requests()[0].body, R"({"workers": 4})");
}

TEST(ClientTest, ErrorStatusIsAnAnswerNotAnError) {
  FakeDaemon daemon([](const FakeRequest&) {
    return FakeDaemon::Answer(404, R"({"error": {"code": "NotFound", "message": "no pool"}})");
  });
  auto response = Client(daemon.path()).Send("GET", "/v1/pools/x", "", Deadline::After(5s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
}

TEST(ClientTest, CarriesBinaryBodiesBothWays) {
  const std::string bytes("\0\x01\xff\r\n", 5);
  FakeDaemon daemon([](const FakeRequest& r) { return FakeDaemon::Answer(200, r.body, "application/octet-stream"); });
  auto response = Client(daemon.path()).Send("POST", "/v1/pools/echo/call?method=echo", bytes, Deadline::After(5s));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, bytes);
}

TEST(ClientTest, MissingSocketIsSystemErrorWithErrno) {
  auto response = Client("/tmp/sv_ctl_no_such_dir/supervisor.sock").Send("GET", "/v1/version", "", Deadline::After(5s));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kSystem);
  EXPECT_EQ(response.error().sys_errno(), ENOENT);
}

TEST(ClientTest, SilentDaemonIsDeadlineExceededAtTheDeadline) {
  FakeDaemon daemon([](const FakeRequest&) { return std::string(FakeDaemon::kSilent); });
  const auto start = std::chrono::steady_clock::now();
  auto response = Client(daemon.path()).Send("GET", "/v1/pools", "", Deadline::After(200ms));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kDeadlineExceeded) << response.error().ToString();
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 5s);
}

TEST(ClientTest, TricklingDaemonIsDeadlineExceededAtTheDeadline) {
  // A byte every 50 ms: each recv succeeds well within SO_RCVTIMEO.
  FakeDaemon daemon([](const FakeRequest&) { return FakeDaemon::Answer(200, std::string(200, 'x')); },
                    {.byte_delay = 50ms});
  const auto start = std::chrono::steady_clock::now();
  auto response = Client(daemon.path()).Send("GET", "/v1/pools", "", Deadline::After(300ms));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kDeadlineExceeded) << response.error().ToString();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1500ms);
}

TEST(ClientTest, TricklingAnswerWithoutLengthIsNotCutShortSilently) {
  FakeDaemon daemon([](const FakeRequest&) { return std::string("HTTP/1.1 200 OK\r\n\r\n") + std::string(100, 'x'); },
                    {.byte_delay = 20ms});
  auto response = Client(daemon.path()).Send("GET", "/v1/pools", "", Deadline::After(300ms));
  ASSERT_FALSE(response) << response->body.size();
  EXPECT_EQ(response.error().code(), ErrorCode::kDeadlineExceeded) << response.error().ToString();
}

TEST(ClientTest, AnswerToAnUnreadBodyIsReadAfterTheSendFails) {
  // As the daemon refuses a call over the channel capacity: 413 from the head,
  // the body never read; the client's send fails with EPIPE or ECONNRESET.
  const std::string refusal = R"({"error": {"code": "PayloadTooLarge", "message": "over 65536 bytes"}})";
  FakeDaemon daemon([&](const FakeRequest&) { return FakeDaemon::Answer(413, refusal); }, {.read_body = false});
  auto response = Client(daemon.path()).Send("POST", "/v1/pools/echo/call?method=echo", std::string(8 << 20, 'x'),
                                             Deadline::After(5s));
  ASSERT_TRUE(response) << response.error().ToString();
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->body, refusal);
}

TEST(ClientTest, HangUpWithoutAnswerWhileSendingIsTheSendError) {
  FakeDaemon daemon([](const FakeRequest&) { return std::string(FakeDaemon::kHangUp); }, {.read_body = false});
  auto response = Client(daemon.path()).Send("POST", "/v1/pools/echo/call?method=echo", std::string(8 << 20, 'x'),
                                             Deadline::After(5s));
  ASSERT_FALSE(response);
  EXPECT_NE(response.error().code(), ErrorCode::kDeadlineExceeded) << response.error().ToString();
}

TEST(ClientTest, ExpiredDeadlineSendsNothing) {
  FakeDaemon daemon([](const FakeRequest&) { return FakeDaemon::Answer(200, "{}"); });
  auto response = Client(daemon.path()).Send("GET", "/v1/pools", "", Deadline::After(-1s));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(daemon.requests().empty());
}

TEST(ClientTest, HangUpBeforeAnsweringIsClosed) {
  FakeDaemon daemon([](const FakeRequest&) { return std::string(FakeDaemon::kHangUp); });
  auto response = Client(daemon.path()).Send("GET", "/v1/pools", "", Deadline::After(5s));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kClosed) << response.error().ToString();
}

TEST(ClientTest, TruncatedBodyIsClosedNotAShortBody) {
  FakeDaemon daemon([](const FakeRequest&) {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"pools\"");
  });
  auto response = Client(daemon.path()).Send("GET", "/v1/pools", "", Deadline::After(5s));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kClosed) << response.error().ToString();
}

TEST(ClientTest, NonHttpAnswerIsProtocolViolation) {
  FakeDaemon daemon([](const FakeRequest&) { return std::string("SSH-2.0-OpenSSH\r\n\r\n"); });
  auto response = Client(daemon.path()).Send("GET", "/v1/pools", "", Deadline::After(5s));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kProtocolViolation) << response.error().ToString();
}

TEST(UrlEncodeTest, KeepsUnreservedAndEncodesTheRest) {
  EXPECT_EQ(UrlEncode("zlib-1.x_y~"), "zlib-1.x_y~");
  EXPECT_EQ(UrlEncode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

}  // namespace
}  // namespace sv::ctl
