// ctl/verbs.h: each verb's requests, output and exit code against a real Unix
// socket answering as docs/api.md says the daemon does; and the exit-code and
// error-message rules.
#include "ctl/verbs.h"

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/ctl/fake_daemon.h"

namespace sv::ctl {
namespace {

using testing::FakeDaemon;
using testing::FakeRequest;

constexpr const char* kPool =
    R"({"name": "zlib", "state": "RUNNING", "desired_workers": 2, "ready_workers": 1, "calls": 7,
        "restarts": 0, "last_error": "", "workers": [
        {"id": "zlib:0", "slot": 0, "state": "READY", "pid": 4101, "uptime_ms": 62000, "calls": 7, "last_exit": null},
        {"id": "zlib:1", "slot": 1, "state": "BACKOFF", "pid": 0, "uptime_ms": 0, "calls": 0,
         "last_exit": "killed by SIGSEGV"}]})";

// A fake daemon with a pool "zlib" (worker 1 not running) and nothing else.
std::string Answer(const FakeRequest& r) {
  const std::string not_found = R"({"error": {"code": "NotFound", "message": "no pool named 'zlb'"}})";
  if (r.target == "/v1/pools") return FakeDaemon::Answer(200, std::string(R"({"pools": [)") + kPool + "]}");
  if (r.target == "/v1/pools/zlib") return FakeDaemon::Answer(200, kPool);
  if (r.target == "/v1/pools/zlib/stop") {
    return FakeDaemon::Answer(200, R"({"pool": "zlib", "workers": [{"slot": 0, "pid": 4101, "outcome": "stopped"},
                                      {"slot": 1, "pid": 4133, "outcome": "killed"}]})");
  }
  if (r.target == "/v1/pools/zlib/workers/0/start") return FakeDaemon::Answer(200, R"({"pool": "zlib", "slot": 0, "ready": true})");
  if (r.target == "/v1/version") return FakeDaemon::Answer(200, R"({"name": "supervisor", "version": "0.5.0", "api": 1, "pid": 4000, "config": "/p.yaml", "uptime_ms": 5000})");
  if (r.target == "/v1/reread") return FakeDaemon::Answer(200, R"({"added": ["b"], "removed": [], "changed": ["a"], "resized": []})");
  if (r.target.starts_with("/v1/pools/echo/call?method=echo")) return FakeDaemon::Answer(200, "out:" + r.body, "application/octet-stream");
  if (r.target.starts_with("/v1/pools/echo/call?method=fail")) {
    return FakeDaemon::Answer(422, R"({"error": {"code": "PluginError", "message": "bad input", "plugin_code": 3}})");
  }
  if (r.target.starts_with("/v1/pools/zlib/logs?stream=stderr&tail=2")) {
    return FakeDaemon::Answer(200, R"({"pool": "zlib", "stream": "stderr", "lines": [{"seq": 4, "text": "a"}, {"seq": 5, "text": "b"}], "next": 6, "dropped": 0})");
  }
  return FakeDaemon::Answer(404, not_found);
}

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome RunArgs(const FakeDaemon& daemon, std::initializer_list<std::string_view> args, const std::string& input = "") {
  auto command = ParseCommandLine(std::span<const std::string_view>(args.begin(), args.size()));
  EXPECT_TRUE(command) << command.error();
  std::istringstream in(input);
  std::ostringstream out, err;
  const Client client(daemon.path());
  const int code = RunVerb(*command, client, "pools.yaml", Streams{in, out, err});
  return {code, out.str(), err.str()};
}

TEST(RunVerbTest, StatusPrintsTableAndExitsThreeWhenAWorkerIsDown) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"status"});
  EXPECT_EQ(run.code, kExitNotRunning);
  EXPECT_EQ(run.out,
            "zlib     RUNNING   1/2 ready, 7 calls\n"
            "zlib:0   READY     pid 4101, uptime 0:01:02\n"
            "zlib:1   BACKOFF   killed by SIGSEGV\n");
}

TEST(RunVerbTest, StatusOfOneRunningWorkerExitsZero) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"status", "zlib:0"});
  EXPECT_EQ(run.code, kExitOk);
  EXPECT_EQ(run.out, "zlib:0   READY   pid 4101, uptime 0:01:02\n");
}

TEST(RunVerbTest, StatusOfUnknownNamesExitsFour) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"status", "zlb", "zlib:9"});
  EXPECT_EQ(run.code, kExitUnknown);
  EXPECT_EQ(run.err, "zlb: ERROR (NotFound: no pool named 'zlb')\nzlib:9: ERROR (no such worker)\n");
}

TEST(RunVerbTest, StatusJsonWithTargetsIsThePoolListOfThoseNamed) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"status", "--json", "zlib:1", "zlb"});
  EXPECT_EQ(run.code, kExitUnknown);
  EXPECT_TRUE(run.out.starts_with(R"({"pools": [{"name":"zlib","state":"RUNNING",)")) << run.out;
  EXPECT_EQ(run.out.find(R"("slot":0)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(R"("slot":1)"), std::string::npos) << run.out;
  // The daemon's error answer is part of the one line of JSON, not on stderr.
  EXPECT_NE(run.out.find(R"(], "errors": {"zlb": {"error": {"code": "NotFound")"), std::string::npos) << run.out;
  EXPECT_EQ(run.err, "");
  EXPECT_EQ(RunArgs(daemon, {"status", "--json", "zlib", "zlib:1"}).out,
            std::string(R"({"pools": [)") + kPool + "]}\n");
}

TEST(RunVerbTest, StatusAllStillReportsUnknownNames) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"status", "all", "zlb", "zlib:9"});
  EXPECT_EQ(run.code, kExitUnknown);
  EXPECT_TRUE(run.out.starts_with("zlib ")) << run.out;
  EXPECT_EQ(run.err, "zlb: ERROR (no such pool)\nzlib:9: ERROR (no such worker)\n");
  EXPECT_EQ(RunArgs(daemon, {"status", "all", "zlib:0"}).code, kExitNotRunning);
}

// The daemon's JSON bodies are one line ending with "\n"; this fake's are too.
std::string AnswerEndingInNewline(const FakeRequest& r) {
  const std::string raw = Answer(r);
  const std::size_t head_end = raw.find("\r\n\r\n");
  const std::string body = nlohmann::ordered_json::parse(raw.substr(head_end + 4)).dump() + "\n";
  const std::size_t at = raw.find("Content-Length: ") + 16;
  return raw.substr(0, at) + std::to_string(body.size()) + raw.substr(raw.find('\r', at), head_end + 4 - raw.find('\r', at)) + body;
}

TEST(RunVerbTest, EveryJsonOutputIsOneLineOfJson) {
  FakeDaemon daemon(AnswerEndingInNewline);
  const std::vector<std::vector<std::string_view>> commands = {
      {"status", "--json"},         {"status", "--json", "zlib", "zlb"}, {"status", "--json", "zlb"},
      {"stop", "--json", "zlib"},   {"version", "--json"},               {"shutdown", "--json"},
      {"tail", "--json", "nope"},   {"reread", "--json"},                {"pid", "--json", "zlib:0"},
      {"scale", "--json", "zlb", "2"}};
  for (const auto& args : commands) {
    auto command = ParseCommandLine(args);
    ASSERT_TRUE(command) << command.error();
    std::istringstream in;
    std::ostringstream out, err;
    RunVerb(*command, Client(daemon.path()), "", Streams{in, out, err});
    const std::string text = out.str();
    EXPECT_EQ(text.find('\n'), text.size() - 1) << args[0] << ": " << text;
    EXPECT_TRUE(nlohmann::json::accept(text)) << args[0] << ": " << text;
  }
}

TEST(RunVerbTest, JsonErrorAnswerIsTheDaemonsErrorOnStdout) {
  FakeDaemon daemon(AnswerEndingInNewline);
  Outcome run = RunArgs(daemon, {"tail", "--json", "nope"});
  EXPECT_EQ(run.code, kExitUnknown);
  EXPECT_EQ(run.out, "{\"error\":{\"code\":\"NotFound\",\"message\":\"no pool named 'zlb'\"}}\n");
  EXPECT_EQ(run.err, "");
}

TEST(RunVerbTest, PidChecksTheSlotWithJsonToo) {
  FakeDaemon daemon(Answer);
  Outcome missing = RunArgs(daemon, {"pid", "--json", "zlib:7"});
  EXPECT_EQ(missing.code, kExitUnknown);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err, "zlib:7: ERROR (no such worker)\n");
  Outcome found = RunArgs(daemon, {"pid", "--json", "zlib:1"});
  EXPECT_EQ(found.code, kExitOk);
  EXPECT_EQ(found.out.find(R"("slot":0)"), std::string::npos) << found.out;
  EXPECT_NE(found.out.find(R"("slot":1)"), std::string::npos) << found.out;
}

TEST(RunVerbTest, TimeoutSentIsClampedToWhatTheDaemonAccepts) {
  FakeDaemon daemon(Answer);
  EXPECT_EQ(RunArgs(daemon, {"start", "--timeout", "8h", "zlib:0"}).code, kExitOk);
  ASSERT_EQ(daemon.requests().size(), 1u);
  EXPECT_EQ(daemon.requests()[0].body, R"({"timeout_ms": 3600000})");
}

TEST(RunVerbTest, StopReportsKilledWorkers) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"stop", "zlib"});
  EXPECT_EQ(run.code, kExitOk);
  EXPECT_EQ(run.out,
            "zlib:0: stopped (pid 4101)\n"
            "zlib:1: killed (pid 4133, did not stop within stop_timeout)\n");
  EXPECT_EQ(daemon.requests()[0].body, "{}");
}

TEST(RunVerbTest, AllExpandsToEveryPoolAndTimeoutIsSentInMilliseconds) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"stop", "--timeout", "5s", "all"});
  EXPECT_EQ(run.code, kExitOk);
  auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/v1/pools");
  EXPECT_EQ(requests[1].target, "/v1/pools/zlib/stop");
  // What is left of the 5 s, in whole milliseconds rounded up.
  ASSERT_TRUE(requests[1].body.starts_with(R"({"timeout_ms": )")) << requests[1].body;
  const int ms = std::stoi(requests[1].body.substr(15));
  EXPECT_GT(ms, 4000);
  EXPECT_LE(ms, 5000);
}

TEST(RunVerbTest, OneFailedTargetDoesNotStopTheOthers) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"start", "nope", "zlib:0"});
  EXPECT_EQ(run.code, kExitUnknown);
  EXPECT_EQ(run.out, "zlib:0: started\n");
  EXPECT_EQ(run.err, "nope: ERROR (NotFound: no pool named 'zlb')\n");
}

TEST(RunVerbTest, RereadListsChanges) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"reread"});
  EXPECT_EQ(run.code, kExitOk);
  EXPECT_EQ(run.out, "b: available\na: changed\n");
}

TEST(RunVerbTest, PidWithoutTargetIsTheDaemons) {
  FakeDaemon daemon(Answer);
  EXPECT_EQ(RunArgs(daemon, {"pid"}).out, "4000\n");
  EXPECT_EQ(RunArgs(daemon, {"pid", "zlib"}).out, "4101\n0\n");
  EXPECT_EQ(RunArgs(daemon, {"pid", "zlib:9"}).code, kExitUnknown);
}

TEST(RunVerbTest, CallSendsStdinAndPrintsRawOutput) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"call", "echo", "echo", "-"}, "hello\n");
  EXPECT_EQ(run.code, kExitOk);
  EXPECT_EQ(run.out, "out:hello\n");
}

TEST(RunVerbTest, CallFailureGoesToStderrWithPluginCode) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"call", "echo", "fail", "x"});
  EXPECT_EQ(run.code, kExitFailed);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "echo.fail: ERROR (PluginError (plugin code 3): bad input)\n");
}

// An endless stream of zero bytes, like /dev/zero, holding no memory.
class Zeros : public std::streambuf {
 protected:
  int_type underflow() override {
    setg(buffer_, buffer_, buffer_ + sizeof buffer_);
    return 0;
  }

 private:
  char buffer_[1 << 16] = {};
};

TEST(RunVerbTest, CallRefusesADirectoryWithoutSending) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"call", "echo", "echo", "@" + daemon.dir()});
  EXPECT_EQ(run.code, kExitFailed);
  EXPECT_EQ(run.err, "supervisorctl: cannot read " + daemon.dir() + ": is a directory\n");
  EXPECT_TRUE(daemon.requests().empty());
}

TEST(RunVerbTest, CallRefusesInputOverTheDaemonsBodyCap) {
  FakeDaemon daemon(Answer);
  Zeros zeros;
  std::istream in(&zeros);
  std::ostringstream out, err;
  const std::array<std::string_view, 4> args = {"call", "echo", "echo", "-"};
  auto command = ParseCommandLine(args);
  ASSERT_TRUE(command);
  EXPECT_EQ(RunVerb(*command, Client(daemon.path()), "", Streams{in, out, err}), kExitFailed);
  EXPECT_EQ(err.str(), "supervisorctl: stdin is over 256 MiB, the most a call's input can be\n");
  EXPECT_TRUE(daemon.requests().empty());
}

TEST(RunVerbTest, TailPrintsLines) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"tail", "-n", "2", "zlib", "stderr"});
  EXPECT_EQ(run.code, kExitOk);
  EXPECT_EQ(run.out, "a\nb\n");
}

TEST(RunVerbTest, VersionJsonIsTheDaemonsBody) {
  FakeDaemon daemon(Answer);
  Outcome run = RunArgs(daemon, {"version", "--json"});
  EXPECT_TRUE(run.out.starts_with(R"({"name": "supervisor", "version": "0.5.0")")) << run.out;
}

TEST(RunVerbTest, UnreachableDaemonExitsFourWithAHint) {
  std::istringstream in;
  std::ostringstream out, err;
  Command command{.verb = Verb::kStatus};
  const int code = RunVerb(command, Client("/tmp/sv_ctl_nowhere/s.sock"), "pools.yaml", Streams{in, out, err});
  EXPECT_EQ(code, kExitUnknown);
  EXPECT_EQ(err.str(),
            "supervisorctl: cannot reach the supervisor at /tmp/sv_ctl_nowhere/s.sock: No such file or directory "
            "(is it running? start it with: supervisor -c pools.yaml)\n");
}

TEST(RunVerbTest, PoolsPrintsNamesAndIsSilentOnFailure) {
  FakeDaemon daemon(Answer);
  EXPECT_EQ(RunArgs(daemon, {"_pools"}).out, "zlib\n");
  EXPECT_EQ(RunArgs(daemon, {"_pools", "zlib"}).out, "zlib:0\nzlib:1\n");
  std::istringstream in;
  std::ostringstream out, err;
  Command command{.verb = Verb::kPools};
  EXPECT_EQ(RunVerb(command, Client("/tmp/sv_ctl_nowhere/s.sock"), "", Streams{in, out, err}), kExitFailed);
  EXPECT_EQ(err.str(), "");
}

TEST(RunVerbTest, PoolsGivesUpAfterOneSecond) {
  FakeDaemon daemon([](const FakeRequest&) { return std::string(FakeDaemon::kSilent); });
  for (std::string_view pool : {"", "zlib"}) {
    const auto start = std::chrono::steady_clock::now();
    Outcome run = pool.empty() ? RunArgs(daemon, {"_pools"}) : RunArgs(daemon, {"_pools", pool});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(run.code, kExitFailed);
    EXPECT_EQ(run.err, "");
    EXPECT_LT(took, std::chrono::milliseconds(1500)) << pool;
  }
}

TEST(ExitCodeTest, MapsApiErrors) {
  EXPECT_EQ(ExitCodeForApiError(404, "NotFound"), kExitUnknown);
  EXPECT_EQ(ExitCodeForApiError(403, "Forbidden"), kExitUnknown);
  EXPECT_EQ(ExitCodeForApiError(400, "BadRequest"), kExitUsage);
  EXPECT_EQ(ExitCodeForApiError(400, "BadConfig"), kExitFailed);
  EXPECT_EQ(ExitCodeForApiError(503, "StartFailed"), kExitFailed);
  EXPECT_EQ(ExitCodeForApiError(504, "DeadlineExceeded"), kExitFailed);
  EXPECT_EQ(ExitCodeForApiError(500, ""), kExitFailed);
}

TEST(ExitCodeTest, MapsClientErrors) {
  EXPECT_EQ(ExitCodeForClientError(Error::FromErrno("connect", ENOENT)), kExitUnknown);
  EXPECT_EQ(ExitCodeForClientError(Error::FromErrno("connect", ECONNREFUSED)), kExitUnknown);
  EXPECT_EQ(ExitCodeForClientError(Error::FromErrno("connect", EACCES)), kExitUnknown);
  EXPECT_EQ(ExitCodeForClientError(Error(ErrorCode::kDeadlineExceeded, "x")), kExitFailed);
  EXPECT_EQ(ExitCodeForClientError(Error(ErrorCode::kClosed, "x")), kExitFailed);
}

TEST(ExitCodeTest, WorseOfTwo) {
  EXPECT_EQ(WorseExitCode(kExitOk, kExitFailed), kExitFailed);
  EXPECT_EQ(WorseExitCode(kExitUnknown, kExitFailed), kExitUnknown);
  EXPECT_EQ(WorseExitCode(kExitNotRunning, kExitOk), kExitNotRunning);
  EXPECT_EQ(WorseExitCode(kExitNotRunning, kExitFailed), kExitFailed);
  EXPECT_EQ(WorseExitCode(kExitUsage, kExitFailed), kExitUsage);
}

TEST(DescribeApiErrorTest, ReadsTheErrorObjectOrShowsTheStatus) {
  EXPECT_EQ(DescribeApiError(409, R"({"error": {"code": "Conflict", "message": "stopping"}})"), "Conflict: stopping");
  EXPECT_EQ(DescribeApiError(502, "Bad Gateway\n"), "HTTP 502: Bad Gateway");
  EXPECT_EQ(DescribeApiError(500, ""), "HTTP 500");
}

TEST(DescribeClientErrorTest, HintsHowToStartOrWhoMayConnect) {
  EXPECT_EQ(DescribeClientError(Error::FromErrno("x", ECONNREFUSED), "/r/s.sock", "/etc/p.yaml"),
            "cannot reach the supervisor at /r/s.sock: Connection refused (is it running? start it with: "
            "supervisor -c /etc/p.yaml)");
  EXPECT_EQ(DescribeClientError(Error::FromErrno("x", EACCES), "/r/s.sock", ""),
            "cannot reach the supervisor at /r/s.sock: Permission denied (run as the daemon's user, or as a "
            "member of supervisor.socket_group)");
}

TEST(JsonQuoteTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
}

}  // namespace
}  // namespace sv::ctl
