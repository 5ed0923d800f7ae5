// A real `supervisor` daemon in a temp dir, for end-to-end tests and bench/ctl:
// started with NOTIFY_SOCKET pointing at the harness (so "started" means the
// daemon sent READY=1, not that some time passed), driven through the real
// supervisorctl binary or raw HTTP over its socket. Runs in the test process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/deadline.h"
#include "base/error.h"
#include "base/unique_fd.h"

namespace sv::testing {

// What a finished program did.
struct ProgramResult {
  int exit_code = -1;  // -1: killed by a signal (or by the deadline)
  std::string out, err;
  bool timed_out = false;
};

// Runs argv[0] (a path) with `input` on its stdin and waits for it to exit,
// reading stdout and stderr. Past `deadline` the program is SIGKILLed and
// timed_out is set. `env` entries ("K=V") are added to this process's environment.
ProgramResult RunProgram(const std::vector<std::string>& argv, const std::string& input, Deadline deadline,
                         const std::vector<std::string>& env = {});

// Paths of the binaries built next to the tests.
std::string DaemonPath();
std::string CtlPath();
std::string HelperPluginPath(const std::string& name);  // "misbehave" → .../libmisbehave_plugin.so

class DaemonProcess {
 public:
  // Writes `yaml` to <dir>/pools.yaml (dir: a fresh temp dir, removed by the
  // destructor) and starts the daemon on it. "@PLUGINS@" and "@HELPERS@" in
  // `yaml` are replaced by the folders of the example and test plugins, and
  // "@DIR@" by the temp dir. Waits for READY=1. The daemon's stderr goes to
  // <dir>/daemon.log.
  // `env` ("K=V") is added to the daemon's environment.
  [[nodiscard]] static std::expected<std::unique_ptr<DaemonProcess>, Error> Start(
      const std::string& yaml, Deadline deadline, const std::vector<std::string>& env = {});
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;
  // SIGKILLs the daemon if it still runs, and removes the temp dir.
  ~DaemonProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config_path() const { return dir_ / "pools.yaml"; }
  std::filesystem::path socket_path() const { return dir_ / "run" / "supervisor.sock"; }
  std::string log() const;

  // supervisorctl -s <socket> args...
  ProgramResult Ctl(const std::vector<std::string>& args, Deadline deadline, const std::string& input = "") const;
  // Sends `request` as is over a fresh connection to the socket and returns
  // everything the daemon answers until it closes (or `deadline`); a daemon
  // that answers before reading the whole request (413) is read all the same.
  [[nodiscard]] std::expected<std::string, Error> Raw(const std::string& request, Deadline deadline) const;
  // One GET/POST over HTTP/1.1 with Connection: close; returns the raw response.
  [[nodiscard]] std::expected<std::string, Error> Http(const std::string& method, const std::string& target,
                                                        const std::string& body, Deadline deadline) const;

  // Rewrites pools.yaml (same substitutions as Start).
  [[nodiscard]] Status Rewrite(const std::string& yaml) const;
  // Sends a signal to the daemon.
  [[nodiscard]] Status Kill(int sig) const;
  // The next notify datagram ("READY=1\nSTATUS=..."), or kDeadlineExceeded.
  [[nodiscard]] std::expected<std::string, Error> NextNotice(Deadline deadline) const;
  // Waits for the daemon to exit; its exit code (-signal when killed).
  [[nodiscard]] std::expected<int, Error> Wait(Deadline deadline);

 private:
  DaemonProcess() = default;
  std::string Substitute(const std::string& yaml) const;

  std::filesystem::path dir_;
  UniqueFd notify_;
  pid_t pid_ = 0;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

// The status line of an HTTP response ("HTTP/1.1 400 Bad Request") and body.
int HttpStatus(const std::string& response);
std::string HttpBody(const std::string& response);

}  // namespace sv::testing
