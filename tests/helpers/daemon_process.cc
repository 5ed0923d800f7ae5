#include "tests/helpers/daemon_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tests/helpers/pidfd.h"

extern char** environ;

namespace sv::testing {

namespace {

int PollMs(Deadline deadline) {
  const auto left = deadline.Remaining();
  return static_cast<int>(std::clamp<long long>(std::chrono::ceil<std::chrono::milliseconds>(left).count(), 0, 60'000));
}

std::vector<std::string> Environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

bool SetNonBlocking(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0; }

// Drains `fds` into `sinks` and feeds `input` to `in` until both outputs close.
bool Pump(int in, std::string_view input, std::array<int, 2> fds, std::array<std::string*, 2> sinks, Deadline deadline) {
  std::size_t written = 0;
  int in_fd = in;
  if (input.empty() && in_fd >= 0) {
    close(in_fd);
    in_fd = -1;
  }
  while (fds[0] >= 0 || fds[1] >= 0) {
    pollfd p[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    const int n = poll(p, 3, PollMs(deadline));
    if (n == 0 && deadline.Expired()) return false;
    if (n < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (p[i].revents == 0) continue;
      char buffer[65536];
      const ssize_t got = read(fds[i], buffer, sizeof buffer);
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EAGAIN) {
        close(fds[i]);
        fds[i] = -1;
      }
    }
    if (in_fd >= 0 && p[2].revents != 0) {
      const ssize_t put = write(in_fd, input.data() + written, input.size() - written);
      if (put > 0) written += static_cast<std::size_t>(put);
      if (put < 0 || written == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  return true;
}

std::expected<std::string, Error> ReadAll(int fd, Deadline deadline) {
  std::string out;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, PollMs(deadline));
    if (n == 0 && deadline.Expired()) return std::unexpected(Error(ErrorCode::kDeadlineExceeded, "no answer in time"));
    if (n < 0) continue;
    char buffer[65536];
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got == 0) return out;
    if (got < 0 && errno != EAGAIN && errno != EINTR) {
      if (errno == ECONNRESET && !out.empty()) return out;
      return std::unexpected(Error::FromErrno("read", errno));
    }
    if (got > 0) out.append(buffer, static_cast<std::size_t>(got));
  }
}

}  // namespace

std::string DaemonPath() { return SV_DAEMON_PATH; }
std::string CtlPath() { return SV_CTL_PATH; }
std::string HelperPluginPath(const std::string& name) {
  return std::string(SV_HELPER_PLUGIN_DIR) + "/lib" + name + "_plugin.so";
}

ProgramResult RunProgram(const std::vector<std::string>& argv, const std::string& input, Deadline deadline,
                         const std::vector<std::string>& env) {
  ProgramResult result;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::vector<std::string> args = argv, environment = Environment(env);
  std::vector<char*> arg_ptrs = Pointers(args), env_ptrs = Pointers(environment);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0].c_str(), &actions, nullptr, arg_ptrs.data(), env_ptrs.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    for (int fd : {in[1], out[0], err[0]}) close(fd);
    result.err = "posix_spawn " + args[0] + ": " + std::strerror(rc);
    return result;
  }
  SetNonBlocking(in[1]);
  SetNonBlocking(out[0]);
  SetNonBlocking(err[0]);
  signal(SIGPIPE, SIG_IGN);
  if (!Pump(in[1], input, {out[0], err[0]}, {&result.out, &result.err}, deadline)) {
    result.timed_out = true;
    kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::expected<std::unique_ptr<DaemonProcess>, Error> DaemonProcess::Start(const std::string& yaml, Deadline deadline,
                                                                          const std::vector<std::string>& extra_env) {
  std::unique_ptr<DaemonProcess> d(new DaemonProcess());
  char pattern[] = "/tmp/sv-e2e-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return std::unexpected(Error::FromErrno("mkdtemp", errno));
  d->dir_ = pattern;
  if (Status s = d->Rewrite(yaml); !s) return std::unexpected(s.error());
  const std::string notify_path = (d->dir_ / "notify.sock").string();
  d->notify_ = UniqueFd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, notify_path.c_str(), sizeof address.sun_path - 1);
  if (bind(d->notify_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return std::unexpected(Error::FromErrno("bind " + notify_path, errno));
  }
  std::vector<std::string> args = {DaemonPath(), "-c", d->config_path().string()};
  std::vector<std::string> added = extra_env;
  added.push_back("NOTIFY_SOCKET=" + notify_path);
  std::vector<std::string> env = Environment(added);
  std::vector<char*> arg_ptrs = Pointers(args), env_ptrs = Pointers(env);
  const std::string log_path = (d->dir_ / "daemon.log").string();
  UniqueFd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  const pid_t parent = getpid();
  d->pid_ = fork();
  if (d->pid_ < 0) return std::unexpected(Error::FromErrno("fork", errno));
  if (d->pid_ == 0) {
    // The daemon dies with the test (async-signal-safe calls only).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log.get(), 1);
    dup2(log.get(), 2);
    execve(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    _exit(127);
  }
  d->pidfd_ = PidfdOpen(d->pid_);
  while (true) {
    auto notice = d->NextNotice(deadline);
    if (!notice) return std::unexpected(Error(notice.error().code(), notice.error().message() + "; log:\n" + d->log()));
    if (notice->starts_with("READY=1")) return d;
  }
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string DaemonProcess::Substitute(const std::string& yaml) const {
  std::string out = yaml;
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"@PLUGINS@", SV_PLUGIN_DIR}, {"@HELPERS@", SV_HELPER_PLUGIN_DIR}, {"@DIR@", dir_.string()}};
  for (const auto& [key, value] : vars) {
    for (std::size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + value.size())) {
      out.replace(at, key.size(), value);
    }
  }
  return out;
}

Status DaemonProcess::Rewrite(const std::string& yaml) const {
  const std::filesystem::path tmp = dir_ / "pools.yaml.new";
  {
    std::ofstream file(tmp);
    file << Substitute(yaml);
    if (!file) return std::unexpected(Error(ErrorCode::kSystem, "cannot write " + tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, config_path(), ec);
  if (ec) return std::unexpected(Error::FromErrno("rename " + tmp.string(), ec.value()));
  return {};
}

std::string DaemonProcess::log() const {
  std::ifstream file(dir_ / "daemon.log");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

ProgramResult DaemonProcess::Ctl(const std::vector<std::string>& args, Deadline deadline, const std::string& input) const {
  std::vector<std::string> argv = {CtlPath(), "-s", socket_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, input, deadline);
}

std::expected<std::string, Error> DaemonProcess::Raw(const std::string& request, Deadline deadline) const {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path().c_str(), sizeof address.sun_path - 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return std::unexpected(Error::FromErrno("connect " + socket_path().string(), errno));
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) break;  // it answered without reading all: read that
    if (n < 0) return std::unexpected(Error::FromErrno("send", errno));
    sent += static_cast<std::size_t>(n);
  }
  shutdown(fd.get(), SHUT_WR);
  return ReadAll(fd.get(), deadline);
}

std::expected<std::string, Error> DaemonProcess::Http(const std::string& method, const std::string& target,
                                                      const std::string& body, Deadline deadline) const {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  return Raw(request, deadline);
}

Status DaemonProcess::Kill(int sig) const {
  if (syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) != 0) {
    return std::unexpected(Error::FromErrno("pidfd_send_signal", errno));
  }
  return {};
}

std::expected<std::string, Error> DaemonProcess::NextNotice(Deadline deadline) const {
  while (true) {
    pollfd p[2] = {{notify_.get(), POLLIN, 0}, {pidfd_.get(), POLLIN, 0}};
    const int n = poll(p, 2, PollMs(deadline));
    if (n == 0 && deadline.Expired()) return std::unexpected(Error(ErrorCode::kDeadlineExceeded, "no notice from the daemon"));
    if (n < 0) continue;
    if (p[0].revents != 0) {
      char buffer[4096];
      const ssize_t got = recv(notify_.get(), buffer, sizeof buffer, 0);
      if (got > 0) return std::string(buffer, static_cast<std::size_t>(got));
    }
    if (p[1].revents != 0 && p[0].revents == 0) return std::unexpected(Error(ErrorCode::kClosed, "the daemon exited"));
  }
}

std::expected<int, Error> DaemonProcess::Wait(Deadline deadline) {
  if (!Exited(pidfd_.get(), deadline)) {
    return std::unexpected(Error(ErrorCode::kDeadlineExceeded, "the daemon did not exit"));
  }
  int status = 0;
  if (waitpid(pid_, &status, 0) < 0) return std::unexpected(Error::FromErrno("waitpid", errno));
  reaped_ = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

int HttpStatus(const std::string& response) {
  const auto space = response.find(' ');
  return space == std::string::npos ? 0 : std::atoi(response.c_str() + space + 1);
}

std::string HttpBody(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

}  // namespace sv::testing
