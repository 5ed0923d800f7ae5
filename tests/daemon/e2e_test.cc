// End to end: the real `supervisor` daemon in a temp dir, driven by the real
// supervisorctl binary and by raw HTTP over its Unix socket.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "tests/helpers/daemon_process.h"
#include "tests/helpers/pidfd.h"

namespace sv::testing {
namespace {

using namespace std::chrono_literals;
using Poco::JSON::Object;

Deadline Soon() { return Deadline::After(20s); }

// echo: 2 workers. hang: the misbehaving plugin, quick to kill on stop.
constexpr const char* kPools = R"(
pools:
  echo:
    plugin: @PLUGINS@/libecho_plugin.so
    workers: 2
  hang:
    plugin: @HELPERS@/libmisbehave_plugin.so
    workers: 1
    stop_timeout: 200ms
    call_timeout: 60s
)";

Object::Ptr ParseJson(const std::string& text) {
  Poco::JSON::Parser parser;
  return parser.parse(text).extract<Object::Ptr>();
}

// The HTTP status of one request (0: no answer).
int StatusOf(const DaemonProcess& d, const std::string& method, const std::string& target, const std::string& body = "") {
  auto answer = d.Http(method, target, body, Soon());
  EXPECT_TRUE(answer) << method << " " << target << ": " << answer.error().ToString();
  return answer ? HttpStatus(*answer) : 0;
}

std::unique_ptr<DaemonProcess> StartDaemon(const std::string& yaml = kPools) {
  auto daemon = DaemonProcess::Start(yaml, Soon());
  EXPECT_TRUE(daemon) << daemon.error().ToString();
  return daemon ? std::move(*daemon) : nullptr;
}

// Pool status as JSON, through supervisorctl.
Object::Ptr PoolJson(const DaemonProcess& d, const std::string& pool) {
  const ProgramResult r = d.Ctl({"status", "--json", pool}, Soon());
  EXPECT_EQ(r.exit_code == 0 || r.exit_code == 3, true) << r.err;
  auto all = ParseJson(r.out);
  auto pools = all->getArray("pools");
  for (std::size_t i = 0; i < pools->size(); ++i) {
    auto p = pools->getObject(static_cast<unsigned>(i));
    if (p->getValue<std::string>("name") == pool) return p;
  }
  ADD_FAILURE() << "no pool " << pool << " in " << r.out;
  return new Object;
}

std::vector<pid_t> WorkerPids(const DaemonProcess& d, const std::string& pool) {
  std::vector<pid_t> pids;
  auto workers = PoolJson(d, pool)->getArray("workers");
  for (std::size_t i = 0; i < workers->size(); ++i) {
    const int pid = workers->getObject(static_cast<unsigned>(i))->getValue<int>("pid");
    if (pid > 0) pids.push_back(pid);
  }
  return pids;
}

// Every process the daemon runs for its pools: workers and zygotes.
std::vector<UniqueFd> PoolProcesses(const DaemonProcess& d, const std::vector<std::string>& pools) {
  std::vector<UniqueFd> fds;
  for (const auto& pool : pools) {
    auto status = PoolJson(d, pool);
    std::vector<pid_t> pids = WorkerPids(d, pool);
    if (const int zygote = status->getValue<int>("zygote_pid"); zygote > 0) pids.push_back(zygote);
    for (pid_t pid : pids) {
      UniqueFd fd = PidfdOpen(pid);
      EXPECT_TRUE(fd) << "pidfd_open " << pid;
      fds.push_back(std::move(fd));
    }
  }
  return fds;
}

// Until `pool`'s worker `slot` is in `state`, or the deadline.
bool AwaitWorkerState(const DaemonProcess& d, const std::string& pool, int slot, const std::string& state) {
  const Deadline deadline = Soon();
  while (!deadline.Expired()) {
    auto workers = PoolJson(d, pool)->getArray("workers");
    for (std::size_t i = 0; i < workers->size(); ++i) {
      auto w = workers->getObject(static_cast<unsigned>(i));
      if (w->getValue<int>("slot") == slot && w->getValue<std::string>("state") == state) return true;
    }
  }
  return false;
}

// A call that hangs in pool `hang` until its worker dies; runs supervisorctl.
std::jthread HangingCall(const DaemonProcess& d) {
  std::jthread call([&d] { (void)d.Ctl({"call", "--timeout", "60s", "hang", "hang_futex"}, Deadline::After(60s)); });
  EXPECT_TRUE(AwaitWorkerState(d, "hang", 0, "BUSY"));
  return call;
}

TEST(DaemonE2e, StatusPrintsEveryWorkerAndExitsZeroWhenAllRun) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  const ProgramResult r = d->Ctl({"status"}, Soon());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* name : {"echo ", "echo:0", "echo:1", "hang:0"}) EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pid "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("uptime "), std::string::npos) << r.out;
  auto json = ParseJson(d->Ctl({"status", "--json"}, Soon()).out);
  EXPECT_EQ(json->getArray("pools")->size(), 2u);
}

TEST(DaemonE2e, StatusExitCodesFollowLsb) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->Ctl({"status", "nosuch"}, Soon()).exit_code, 4);
  const ProgramResult stop = d->Ctl({"stop", "hang"}, Soon());
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(d->Ctl({"status", "hang"}, Soon()).exit_code, 3);
  const ProgramResult worker = d->Ctl({"status", "hang:0"}, Soon());  // a stopped pool's slots are listed
  EXPECT_EQ(worker.exit_code, 3) << worker.out << worker.err;
  EXPECT_NE(worker.out.find("STOPPED"), std::string::npos) << worker.out;
  EXPECT_EQ(d->Ctl({"status", "echo"}, Soon()).exit_code, 0);
  EXPECT_EQ(d->Ctl({"status"}, Soon()).exit_code, 3);
}

TEST(DaemonE2e, AnAbsentDaemonIsExplainedWithExitFour) {
  const ProgramResult r = RunProgram({CtlPath(), "-s", "/tmp/sv-no-such-dir/supervisor.sock", "status"}, "", Soon());
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("/tmp/sv-no-such-dir/supervisor.sock"), std::string::npos) << r.err;
}

TEST(DaemonE2e, StopReportsTheWorkersItHadToKill) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  auto call = HangingCall(*d);
  const ProgramResult r = d->Ctl({"stop", "--json", "hang"}, Soon());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"killed\""), std::string::npos) << r.out;
  const ProgramResult text = d->Ctl({"stop", "echo"}, Soon());
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(PoolJson(*d, "echo")->getValue<std::string>("state"), "STOPPED");
}

TEST(DaemonE2e, StartRestartAndOneWorker) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_EQ(d->Ctl({"stop", "echo"}, Soon()).exit_code, 0);
  const ProgramResult start = d->Ctl({"start", "echo"}, Soon());
  EXPECT_EQ(start.exit_code, 0) << start.out << start.err;
  EXPECT_EQ(d->Ctl({"status", "echo"}, Soon()).exit_code, 0);
  const std::vector<pid_t> before = WorkerPids(*d, "echo");
  const ProgramResult restart = d->Ctl({"restart", "echo"}, Soon());
  EXPECT_EQ(restart.exit_code, 0) << restart.err;
  const std::vector<pid_t> after = WorkerPids(*d, "echo");
  ASSERT_EQ(after.size(), 2u);
  for (pid_t pid : after) EXPECT_EQ(std::count(before.begin(), before.end(), pid), 0) << "not replaced: " << pid;
  // One worker: stopped, it stays down while the other serves; started, it is back.
  EXPECT_EQ(d->Ctl({"stop", "echo:1"}, Soon()).exit_code, 0);
  EXPECT_EQ(d->Ctl({"status", "echo:1"}, Soon()).exit_code, 3);
  EXPECT_EQ(d->Ctl({"call", "echo", "echo", "still"}, Soon()).out, "still");
  EXPECT_EQ(d->Ctl({"start", "echo:1"}, Soon()).exit_code, 0);
  EXPECT_EQ(d->Ctl({"status", "echo:1"}, Soon()).exit_code, 0);
  // A whole pool means every worker, one stopped on its own included.
  ASSERT_EQ(d->Ctl({"stop", "echo:0"}, Soon()).exit_code, 0);
  EXPECT_EQ(d->Ctl({"start", "all"}, Soon()).exit_code, 0);
  EXPECT_EQ(d->Ctl({"status", "echo:0"}, Soon()).exit_code, 0);
}

TEST(DaemonE2e, CallTakesDataAFileOrStandardInput) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->Ctl({"call", "echo", "echo", "hello"}, Soon()).out, "hello");
  const auto file = d->dir() / "input.bin";
  std::ofstream(file) << "from a file";
  EXPECT_EQ(d->Ctl({"call", "echo", "echo", "@" + file.string()}, Soon()).out, "from a file");
  EXPECT_EQ(d->Ctl({"call", "echo", "echo", "-"}, Soon(), "from stdin").out, "from stdin");
  const ProgramResult failed = d->Ctl({"call", "hang", "fail"}, Soon());
  EXPECT_NE(failed.exit_code, 0);
  EXPECT_NE(failed.err.find("PluginError"), std::string::npos) << failed.err;
  auto raw = d->Http("POST", "/v1/pools/echo/call?method=echo", "over http", Soon());
  ASSERT_TRUE(raw) << raw.error().ToString();
  EXPECT_EQ(HttpStatus(*raw), 200) << *raw;
  EXPECT_EQ(HttpBody(*raw), "over http");
}

TEST(DaemonE2e, ScaleSignalAndPid) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->Ctl({"scale", "echo", "3"}, Soon()).exit_code, 0);
  EXPECT_TRUE(AwaitWorkerState(*d, "echo", 2, "READY"));
  EXPECT_EQ(PoolJson(*d, "echo")->getValue<int>("desired_workers"), 3);
  const std::vector<pid_t> pids = WorkerPids(*d, "echo");
  const ProgramResult pid = d->Ctl({"pid", "echo:0"}, Soon());
  EXPECT_EQ(pid.exit_code, 0);
  EXPECT_EQ(std::atoi(pid.out.c_str()), pids.at(0));
  EXPECT_EQ(std::atoi(d->Ctl({"pid"}, Soon()).out.c_str()), d->pid());
  const ProgramResult signal = d->Ctl({"signal", "--json", "HUP", "echo:0"}, Soon());
  EXPECT_EQ(signal.exit_code, 0) << signal.err;
  EXPECT_NE(signal.out.find(std::to_string(pids.at(0))), std::string::npos) << signal.out;
  EXPECT_NE(d->Ctl({"signal", "NOSUCHSIG", "echo"}, Soon()).exit_code, 0);
}

TEST(DaemonE2e, TailShowsWhatWorkersPrinted) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_EQ(d->Ctl({"call", "hang", "flood_stdout", "1"}, Soon()).exit_code, 0);
  const std::string line(1023, 'x');
  const Deadline deadline = Soon();
  ProgramResult tail;
  do {  // the log thread may not have read the pipe yet
    tail = d->Ctl({"tail", "-n", "3", "hang", "stdout"}, Soon());
  } while (std::count(tail.out.begin(), tail.out.end(), '\n') < 3 && !deadline.Expired());
  EXPECT_EQ(tail.exit_code, 0) << tail.err;
  EXPECT_EQ(tail.out, line + "\n" + line + "\n" + line + "\n");
}

TEST(DaemonE2e, RereadAndUpdateAddRemoveAndResizeWithoutRestarting) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  const std::vector<pid_t> echo_before = WorkerPids(*d, "echo");
  ASSERT_TRUE(d->Rewrite(R"(
pools:
  echo:
    plugin: @PLUGINS@/libecho_plugin.so
    workers: 3
  more:
    plugin: @PLUGINS@/libecho_plugin.so
)"));
  const ProgramResult reread = d->Ctl({"reread", "--json"}, Soon());
  EXPECT_EQ(reread.exit_code, 0) << reread.err;
  auto diff = ParseJson(reread.out);
  EXPECT_EQ(diff->getArray("added")->getElement<std::string>(0), "more");
  EXPECT_EQ(diff->getArray("removed")->getElement<std::string>(0), "hang");
  EXPECT_EQ(diff->getArray("resized")->getElement<std::string>(0), "echo");
  EXPECT_EQ(d->Ctl({"update"}, Soon()).exit_code, 0);
  EXPECT_TRUE(AwaitWorkerState(*d, "more", 0, "READY"));
  EXPECT_TRUE(AwaitWorkerState(*d, "echo", 2, "READY"));
  EXPECT_EQ(d->Ctl({"status", "hang"}, Soon()).exit_code, 4);
  const std::vector<pid_t> echo_after = WorkerPids(*d, "echo");
  for (pid_t pid : echo_before) EXPECT_EQ(std::count(echo_after.begin(), echo_after.end(), pid), 1) << "restarted";
}

TEST(DaemonE2e, SighupReloadsAndABrokenFileChangesNothing) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->Rewrite("pools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n    workers: two\n"));
  const ProgramResult reread = d->Ctl({"reread"}, Soon());
  EXPECT_NE(reread.exit_code, 0);
  EXPECT_NE(reread.err.find("pools.yaml:4:5: pools.echo.workers"), std::string::npos) << reread.err;
  ASSERT_TRUE(d->Kill(SIGHUP));
  auto reloading = d->NextNotice(Soon());
  ASSERT_TRUE(reloading);
  EXPECT_TRUE(reloading->starts_with("RELOADING=1")) << *reloading;
  auto ready = d->NextNotice(Soon());
  ASSERT_TRUE(ready && ready->starts_with("READY=1"));
  EXPECT_EQ(d->Ctl({"status"}, Soon()).exit_code, 0);  // both pools as before
  ASSERT_TRUE(d->Rewrite("pools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n    workers: 1\n"));
  ASSERT_TRUE(d->Kill(SIGHUP));
  ASSERT_TRUE(d->NextNotice(Soon()));
  ASSERT_TRUE(d->NextNotice(Soon()));
  EXPECT_EQ(d->Ctl({"status", "hang"}, Soon()).exit_code, 4);
  EXPECT_EQ(PoolJson(*d, "echo")->getValue<int>("desired_workers"), 1);
}

TEST(DaemonE2e, TheBodyLimitFollowsAReload) {
  auto d = StartDaemon("pools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n    channel: {request: 64KiB}\n");
  ASSERT_TRUE(d);
  const std::string input(1 << 20, 'x');
  EXPECT_EQ(StatusOf(*d, "POST", "/v1/pools/echo/call?method=echo", input), 413);
  ASSERT_TRUE(d->Rewrite("pools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n    channel: {request: 2MiB}\n"));
  ASSERT_EQ(d->Ctl({"update"}, Soon()).exit_code, 0);
  ASSERT_TRUE(AwaitWorkerState(*d, "echo", 0, "READY"));
  auto answer = d->Http("POST", "/v1/pools/echo/call?method=echo", input, Soon());
  ASSERT_TRUE(answer);
  EXPECT_EQ(HttpStatus(*answer), 200);
  EXPECT_EQ(HttpBody(*answer).size(), input.size());
}

TEST(DaemonE2e, SigtermStopsEveryWorkerAndExitsZero) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  std::vector<UniqueFd> processes = PoolProcesses(*d, {"echo", "hang"});
  ASSERT_GE(processes.size(), 3u);
  ASSERT_TRUE(d->Kill(SIGTERM));
  auto stopping = d->NextNotice(Soon());
  EXPECT_TRUE(stopping && stopping->starts_with("STOPPING=1"));
  auto code = d->Wait(Soon());
  ASSERT_TRUE(code) << code.error().ToString();
  EXPECT_EQ(*code, 0) << d->log();
  EXPECT_TRUE(AllExited(processes, Deadline::After(1s)));
  EXPECT_FALSE(std::filesystem::exists(d->socket_path()));
}

TEST(DaemonE2e, ASecondSigtermSkipsTheGrace) {
  auto d = StartDaemon(R"(
pools:
  hang:
    plugin: @HELPERS@/libmisbehave_plugin.so
    stop_timeout: 60s
    call_timeout: 60s
)");
  ASSERT_TRUE(d);
  auto call = HangingCall(*d);
  std::vector<UniqueFd> processes = PoolProcesses(*d, {"hang"});
  ASSERT_TRUE(d->Kill(SIGTERM));
  ASSERT_TRUE(d->NextNotice(Soon()));  // STOPPING=1: the first one is being handled
  ASSERT_TRUE(d->Kill(SIGTERM));
  auto code = d->Wait(Soon());  // well inside the 60 s grace
  ASSERT_TRUE(code) << code.error().ToString();
  EXPECT_EQ(*code, 0);
  EXPECT_TRUE(AllExited(processes, Deadline::After(1s)));
}

TEST(DaemonE2e, SigkillOfTheDaemonLeavesNoWorkerWithinOneSecond) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  std::vector<UniqueFd> processes = PoolProcesses(*d, {"echo", "hang"});
  ASSERT_GE(processes.size(), 3u);
  ASSERT_TRUE(d->Kill(SIGKILL));
  EXPECT_TRUE(AllExited(processes, Deadline::After(1s)));
}

TEST(DaemonE2e, TheWatchdogIsPettedAtHalfItsPeriod) {
  auto d = DaemonProcess::Start(kPools, Soon(), {"WATCHDOG_USEC=200000"});
  ASSERT_TRUE(d) << d.error().ToString();
  for (int i = 0; i < 3; ++i) {  // 100 ms apart; a notice in 2 s at the latest
    auto notice = (*d)->NextNotice(Deadline::After(2s));
    ASSERT_TRUE(notice) << notice.error().ToString();
    EXPECT_EQ(*notice, "WATCHDOG=1");
  }
}

TEST(DaemonE2e, ShutdownVersionAndHelp) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  const ProgramResult version = d->Ctl({"version"}, Soon());
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("0.5.0"), std::string::npos) << version.out;
  EXPECT_EQ(d->Ctl({"help"}, Soon()).exit_code, 0);
  EXPECT_EQ(d->Ctl({"shutdown"}, Soon()).exit_code, 0);
  auto code = d->Wait(Soon());
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
}

TEST(DaemonE2e, CheckConfigNamesTheLineAndColumn) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_EQ(RunProgram({CtlPath(), "check-config", d->config_path().string()}, "", Soon()).exit_code, 0);
  EXPECT_EQ(RunProgram({DaemonPath(), "--check", "-c", d->config_path().string()}, "", Soon()).exit_code, 0);
  ASSERT_TRUE(d->Rewrite("pools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n    wrokers: 2\n"));
  const ProgramResult ctl = RunProgram({CtlPath(), "check-config", d->config_path().string()}, "", Soon());
  EXPECT_NE(ctl.exit_code, 0);
  EXPECT_NE((ctl.out + ctl.err).find("pools.yaml:4:5"), std::string::npos) << ctl.out << ctl.err;
  const ProgramResult daemon = RunProgram({DaemonPath(), "--check", "-c", d->config_path().string()}, "", Soon());
  EXPECT_EQ(daemon.exit_code, 100);
  EXPECT_NE(daemon.err.find("did you mean"), std::string::npos) << daemon.err;
}

TEST(DaemonE2e, MalformedRequestsGet400AndTheDaemonServesOn) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  auto garbage = d->Raw("\x01\x02 nonsense\r\n\r\n", Soon());
  ASSERT_TRUE(garbage) << garbage.error().ToString();
  EXPECT_EQ(HttpStatus(*garbage), 400) << *garbage;
  auto bad_json = d->Http("POST", "/v1/pools/echo/scale", "{\"workers\": ", Soon());
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(HttpStatus(*bad_json), 400);
  EXPECT_EQ(ParseJson(HttpBody(*bad_json))->getObject("error")->getValue<std::string>("code"), "BadRequest");
  EXPECT_EQ(StatusOf(*d, "POST", "/v1/pools/echo/scale", "{\"workers\": \"many\"}"), 400);
  EXPECT_EQ(StatusOf(*d, "GET", "/v1/pools/nosuch"), 404);
  EXPECT_EQ(StatusOf(*d, "GET", "/v1/pools/echo/stop"), 405);
  EXPECT_EQ(StatusOf(*d, "POST", "/v1/pools/echo/workers/99/restart"), 404);
  EXPECT_EQ(StatusOf(*d, "GET", "/healthz"), 200);
}

TEST(DaemonE2e, ProbesAndMetrics) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_EQ(d->Ctl({"call", "echo", "echo", "x"}, Soon()).exit_code, 0);
  auto ready = d->Http("GET", "/readyz", "", Soon());
  ASSERT_TRUE(ready);
  EXPECT_EQ(HttpStatus(*ready), 200) << *ready;
  auto metrics = d->Http("GET", "/metrics", "", Soon());
  ASSERT_TRUE(metrics);
  const std::string body = HttpBody(*metrics);
  EXPECT_NE(body.find("sv_calls_total{pool=\"echo\"} 1\n"), std::string::npos) << body;
  EXPECT_NE(body.find("sv_call_duration_seconds_count{pool=\"echo\"} 1\n"), std::string::npos) << body;
  EXPECT_NE(body.find("sv_workers{pool=\"echo\",state=\"READY\"} 2\n"), std::string::npos) << body;
  // A pool stopped by an operator does not make the daemon unready; one that
  // cannot reach its size does.
  ASSERT_EQ(d->Ctl({"stop", "hang"}, Soon()).exit_code, 0);
  ready = d->Http("GET", "/readyz", "", Soon());
  EXPECT_EQ(HttpStatus(*ready), 200) << *ready;
}

// A TCP port nobody listens on right now.
int FreePort() {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) return 0;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

// One GET over TCP to 127.0.0.1:port; the raw response.
std::string TcpGet(int port, const std::string& path) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return "connect failed";
  const timeval patience{20, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (write(fd.get(), request.data(), request.size()) != static_cast<ssize_t>(request.size())) return "write failed";
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = read(fd.get(), buffer, sizeof buffer)) > 0;) answer.append(buffer, static_cast<std::size_t>(n));
  return answer;
}

TEST(DaemonE2e, TheTcpListenerServesProbesAndMetricsOnly) {
  const int port = FreePort();
  ASSERT_NE(port, 0);
  auto d = StartDaemon("supervisor:\n  metrics_listen: 127.0.0.1:" + std::to_string(port) +
                       "\npools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(HttpStatus(TcpGet(port, "/healthz")), 200);
  EXPECT_EQ(HttpStatus(TcpGet(port, "/readyz")), 200);
  const std::string metrics = TcpGet(port, "/metrics");
  EXPECT_EQ(HttpStatus(metrics), 200);
  EXPECT_NE(metrics.find("sv_workers{pool=\"echo\",state=\"READY\"} 1"), std::string::npos) << metrics;
  EXPECT_EQ(HttpStatus(TcpGet(port, "/v1/pools")), 404);
  EXPECT_EQ(HttpStatus(TcpGet(port, "/v1/shutdown")), 404);
}

TEST(DaemonE2e, LogsGoToTheLogFileWithTheWorkersOutput) {
  auto d = StartDaemon(R"(
supervisor:
  log_file: daemon-file.log
pools:
  hang:
    plugin: @HELPERS@/libmisbehave_plugin.so
)");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->Ctl({"call", "hang", "print_stderr", "a line from the plugin"}, Soon()).exit_code, 0);
  // tail -f prints the kept line (or, if the log thread is slower, follows until it comes).
  const ProgramResult tail = d->Ctl({"tail", "-f", "-n", "1", "--timeout", "1s", "hang", "stderr"}, Soon());
  EXPECT_EQ(tail.exit_code, 0) << tail.err;
  EXPECT_EQ(tail.out, "a line from the plugin\n");
  ASSERT_EQ(d->Ctl({"shutdown"}, Soon()).exit_code, 0);
  ASSERT_TRUE(d->Wait(Soon()));
  std::ifstream file(d->dir() / "daemon-file.log");
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  EXPECT_NE(text.find("ready: 1 pools, 1/1 workers ready"), std::string::npos) << text;
  EXPECT_NE(text.find("[stderr] a line from the plugin"), std::string::npos) << text;
  EXPECT_EQ(d->log().find("ready:"), std::string::npos) << "logged to stderr too";
}

// A connection to the daemon's Unix socket, or to 127.0.0.1:port.
UniqueFd Connect(const DaemonProcess& d, int port = 0) {
  if (port != 0) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? std::move(fd) : UniqueFd();
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, d.socket_path().c_str(), sizeof a.sun_path - 1);
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? std::move(fd) : UniqueFd();
}

bool SendAll(int fd, const std::string& s) {
  return send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// One response: until its Content-Length is complete, EOF or the deadline.
std::string ReadResponse(int fd, Deadline deadline) {
  std::string r;
  while (!deadline.Expired()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, std::max(deadline.RemainingMillis(), 1)) <= 0) continue;
    char b[4096];
    const ssize_t n = read(fd, b, sizeof b);
    if (n <= 0) break;
    r.append(b, static_cast<std::size_t>(n));
    const auto h = r.find("\r\n\r\n"), l = r.find("Content-Length: ");
    if (h != std::string::npos && l < h && r.size() >= h + 4 + std::stoul(r.substr(l + 16))) break;
  }
  return r;
}

TEST(DaemonE2e, SigtermExitsWhileAClientTricklesARequest) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  UniqueFd fd = Connect(*d);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(SendAll(fd.get(), "GET /healthz HTTP/1.1\r\nX-Slow: "));
  std::jthread trickle([&fd](std::stop_token stop) {  // a byte a second, never the end of the request
    while (!stop.stop_requested() && SendAll(fd.get(), "a")) std::this_thread::sleep_for(1s);
  });
  ASSERT_TRUE(d->Kill(SIGTERM));
  auto code = d->Wait(Deadline::After(15s));
  ASSERT_TRUE(code) << "still running 15 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  EXPECT_NE(d->log().find("TERM: stopping every pool"), std::string::npos) << d->log();
}

TEST(DaemonE2e, TcpClientsCannotStarveTheControlSocket) {
  const int port = FreePort();
  ASSERT_NE(port, 0);
  auto d = StartDaemon("supervisor:\n  metrics_listen: 127.0.0.1:" + std::to_string(port) +
                       "\npools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n");
  ASSERT_TRUE(d);
  std::vector<UniqueFd> stalled;  // half-sent requests hold the TCP listener's threads
  for (int i = 0; i < 80; ++i) {
    UniqueFd fd = Connect(*d, port);
    if (fd && SendAll(fd.get(), "GET /metrics HTTP/1.1\r\nX: ")) stalled.push_back(std::move(fd));
  }
  std::vector<UniqueFd> polls;  // two `tail -f`
  for (int i = 0; i < 2; ++i) {
    polls.push_back(Connect(*d));
    ASSERT_TRUE(SendAll(polls.back().get(),
                        "GET /v1/pools/echo/logs?after=1000000&wait_ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  UniqueFd fd = Connect(*d);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(SendAll(fd.get(), "GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(HttpStatus(ReadResponse(fd.get(), Deadline::After(3s))), 200) << "the control API is starved";
}

TEST(DaemonE2e, TheDaemonsSocketsAreCloseOnExec) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  UniqueFd fd = Connect(*d);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(SendAll(fd.get(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(HttpStatus(ReadResponse(fd.get(), Soon())), 200);  // kept alive: its fd is open in the daemon
  const std::string proc = "/proc/" + std::to_string(d->pid());
  int sockets = 0;
  for (const auto& e : std::filesystem::directory_iterator(proc + "/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (ec || !target.starts_with("socket:")) continue;
    ++sockets;
    std::ifstream info(proc + "/fdinfo/" + e.path().filename().string());
    std::string key, flags;
    while (info >> key && key != "flags:") {
    }
    info >> flags;
    EXPECT_NE(std::stoul(flags, nullptr, 8) & O_CLOEXEC, 0u) << "fd " << e.path().filename() << " " << target;
  }
  EXPECT_GE(sockets, 2);  // the listener and the connection
}

TEST(DaemonE2e, APostWithoutContentLengthHasAnEmptyBody) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  UniqueFd fd = Connect(*d);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(SendAll(fd.get(), "POST /v1/pools/echo/signal HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = ReadResponse(fd.get(), Deadline::After(3s));
  EXPECT_EQ(HttpStatus(answer), 400) << answer;  // answered at once: signal needs a body
  EXPECT_NE(answer.find("signal takes"), std::string::npos) << answer;
}

// What bash completion offers for `words` (the last one being completed).
std::string Complete(const DaemonProcess& d, const std::vector<std::string>& words) {
  std::string array;
  for (const auto& w : words) array += " '" + w + "'";
  const std::string script = "source '" + std::string(SV_SOURCE_DIR) + "/ctl/supervisorctl.bash'; COMP_WORDS=(" +
                             array + "); COMP_CWORD=" + std::to_string(words.size() - 1) +
                             "; _supervisorctl; echo \"${COMPREPLY[*]}\"";
  const std::string ctl_dir = std::filesystem::path(CtlPath()).parent_path().string();
  const ProgramResult r = RunProgram({"/bin/bash", "--norc", "-c", script}, "", Soon(),
                                     {"PATH=" + ctl_dir + ":/usr/bin:/bin", "SUPERVISOR_SOCKET=" + d.socket_path().string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(DaemonE2e, BashCompletesVerbsPoolsAndWorkers) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_EQ(Complete(*d, {"supervisorctl", "st"}), "status start stop\n");
  EXPECT_EQ(Complete(*d, {"supervisorctl", "stop", "e"}), "echo\n");
  EXPECT_EQ(Complete(*d, {"supervisorctl", "restart", ""}), "echo hang all\n");
  EXPECT_EQ(Complete(*d, {"supervisorctl", "tail", "hang", "std"}), "stdout stderr\n");
  const std::string workers = Complete(*d, {"supervisorctl", "stop", "echo:"});
  EXPECT_NE(workers.find("0"), std::string::npos) << workers;
  EXPECT_NE(workers.find("1"), std::string::npos) << workers;
}

TEST(DaemonE2e, AnotherUidIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as another uid";
  auto d = StartDaemon("supervisor:\n  socket_mode: \"0666\"\npools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n");
  ASSERT_TRUE(d);
  std::filesystem::permissions(d->dir(), std::filesystem::perms::all);
  std::filesystem::permissions(d->dir() / "run", std::filesystem::perms::all);
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const std::string request = "GET /v1/pools HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string path = d->socket_path().string();
  const pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) _exit(3);
    const timeval patience{20, 0};  // the test's deadline for the answer
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) _exit(4);
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof buffer)) > 0) (void)!write(out[1], buffer, static_cast<std::size_t>(n));
    _exit(0);
  }
  close(out[1]);
  std::string answer;
  char buffer[4096];
  ssize_t n;
  while ((n = read(out[0], buffer, sizeof buffer)) > 0) answer.append(buffer, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child could not connect";
  EXPECT_EQ(HttpStatus(answer), 403) << answer;
  EXPECT_NE(answer.find("Forbidden"), std::string::npos);
}


// --- Hostile and broken clients.

TEST(DaemonE2e, AnOversizedChunkedBodyGets413AndTheDaemonServesOn) {
  auto d = StartDaemon("pools:\n  echo:\n    plugin: @PLUGINS@/libecho_plugin.so\n    channel: {request: 64KiB}\n");
  ASSERT_TRUE(d);
  // The body limit is 64 KiB, the largest channel.request; 96 KiB still fits
  // the socket's buffer, so the request is sent whole before the daemon answers.
  const std::string chunk(48 << 10, 'x');
  std::string request = "POST /v1/pools/echo/call?method=echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 2; ++i) request += "c000\r\n" + chunk + "\r\n";
  request += "0\r\n\r\n";
  auto answer = d->Raw(request, Soon());
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(HttpStatus(*answer), 413) << answer->substr(0, 200);
  auto health = d->Http("GET", "/healthz", "", Soon());
  ASSERT_TRUE(health);
  EXPECT_EQ(HttpStatus(*health), 200);
}

TEST(DaemonE2e, PercentEncodedAndDotPathsAreRoutedLiterally) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  auto bad = d->Http("GET", "/v1/pools/%zz", "", Soon());
  ASSERT_TRUE(bad);
  EXPECT_EQ(HttpStatus(*bad), 400) << *bad;
  EXPECT_EQ(ParseJson(HttpBody(*bad))->getObject("error")->getValue<std::string>("code"), "BadRequest");
  auto dots = d->Http("POST", "/v1/pools/../shutdown", "", Soon());
  ASSERT_TRUE(dots);
  EXPECT_EQ(HttpStatus(*dots), 404) << *dots;
  auto nul = d->Http("GET", "/v1/pools/ec%00ho", "", Soon());
  ASSERT_TRUE(nul);
  EXPECT_EQ(HttpStatus(*nul), 404) << *nul;
  auto huge = d->Http("GET", "/v1/pools/echo/logs?tail=99999999999999999999999", "", Soon());
  ASSERT_TRUE(huge);
  EXPECT_EQ(HttpStatus(*huge), 400) << *huge;
  auto health = d->Http("GET", "/healthz", "", Soon());
  ASSERT_TRUE(health);
  EXPECT_EQ(HttpStatus(*health), 200);
}

}  // namespace
}  // namespace sv::testing
