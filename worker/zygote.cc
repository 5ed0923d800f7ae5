#include "worker/zygote.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/unique_fd.h"
#include "worker/options.h"

namespace sv::worker {
namespace {

// A fork request's fixed part; the fds travel as SCM_RIGHTS.
struct RequestHeader {
  std::uint32_t index;
  std::uint32_t has_cgroup;
  char tmpdir[4000];
};
constexpr std::size_t kMaxFds = 4;

// Waits until `fd` is readable or `deadline`.
Status WaitReadable(int fd, Deadline deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, deadline.RemainingMillis());
    if (n > 0) return {};
    if (n == 0) return Fail(ErrorCode::kDeadlineExceeded, "the zygote did not answer in time");
    if (errno != EINTR) return FailErrno("poll zygote socket", errno);
  }
}

// recvmsg of one message and its fds (each made close-on-exec by the kernel).
std::expected<std::size_t, Error> Receive(int socket, void* buf, std::size_t size, std::vector<int>* fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov{buf, size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return FailErrno("recvmsg zygote socket", errno);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || fds == nullptr) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds->push_back(fd);
    }
  }
  return static_cast<std::size_t>(n);
}

int ThreadCount() {
  FILE* status = std::fopen("/proc/self/status", "re");
  if (status == nullptr) return -1;
  char line[256];
  int threads = -1;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    if (std::sscanf(line, "Threads: %d", &threads) == 1) break;
  }
  std::fclose(status);
  return threads;
}

// Forks one worker as a child of our parent (CLONE_PARENT), in the requested
// cgroup. Returns its pid, 0 in the child, or -errno.
long Fork(int cgroup_fd) {
  clone_args args{};
  args.flags = CLONE_PARENT | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.exit_signal = 0;  // with CLONE_PARENT the kernel takes ours (SIGCHLD) and refuses any other
  if (cgroup_fd >= 0) args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
  const long pid = syscall(SYS_clone3, &args, sizeof args);
  return pid < 0 ? -errno : pid;
}

}  // namespace

Status AwaitZygote(int socket, Deadline deadline) {
  if (Status s = WaitReadable(socket, deadline); !s) return s;
  char answer[1024];
  auto n = Receive(socket, answer, sizeof answer, nullptr);
  if (!n) return std::unexpected(n.error());
  if (*n == 1 && answer[0] == 'R') return {};
  if (*n == 0) return Fail(ErrorCode::kStartFailed, "the zygote exited before it was ready");
  const std::string why(answer + 1, *n - 1);
  if (answer[0] == 'T') return Fail(ErrorCode::kUnsupported, why);  // loadable, not forkable
  return Fail(ErrorCode::kStartFailed, why);
}

std::expected<pid_t, Error> ForkFromZygote(int socket, const ZygoteRequest& request, Deadline deadline) {
  RequestHeader header{request.index, request.cgroup_fd >= 0, {}};
  if (request.tmpdir.size() >= sizeof header.tmpdir) return Fail(ErrorCode::kInvalidArgument, "TMPDIR path too long");
  std::memcpy(header.tmpdir, request.tmpdir.data(), request.tmpdir.size());
  std::array<int, kMaxFds> fds = {request.request_fd, request.response_fd, request.notify_fd, request.cgroup_fd};
  const std::size_t count = request.cgroup_fd >= 0 ? 4 : 3;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  iovec iov{&header, offsetof(RequestHeader, tmpdir) + request.tmpdir.size() + 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * count);
  ssize_t sent;
  do {
    sent = sendmsg(socket, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Fail(ErrorCode::kClosed, Error::FromErrno("sendmsg to the zygote", errno).ToString());
  if (Status s = WaitReadable(socket, deadline); !s) return std::unexpected(s.error());
  std::int32_t reply = 0;
  auto n = Receive(socket, &reply, sizeof reply, nullptr);
  if (!n) return std::unexpected(n.error());
  if (*n != sizeof reply) return Fail(ErrorCode::kClosed, "the zygote hung up");
  if (reply <= 0) return FailErrno("clone3 in the zygote", -reply);
  return static_cast<pid_t>(reply);
}

int RunZygote(bool* forked, ZygoteRequest* child) {
  // A plugin that started threads when loaded cannot be forked safely: its
  // locks may be held by threads the copies would not have.
  if (int threads = ThreadCount(); threads != 1) {
    const std::string why = "Tthe plugin runs " + std::to_string(threads) + " threads once loaded; forking it is unsafe";
    (void)!send(kZygoteFd, why.data(), why.size(), MSG_NOSIGNAL);
    return kExitPermanent;
  }
  (void)!send(kZygoteFd, "R", 1, MSG_NOSIGNAL);
  for (;;) {
    RequestHeader header{};
    std::vector<int> fds;
    auto n = Receive(kZygoteFd, &header, sizeof header, &fds);
    if (!n || *n == 0) return kExitOk;  // the supervisor hung up
    const bool complete = *n > offsetof(RequestHeader, tmpdir) && fds.size() == 3u + (header.has_cgroup != 0);
    const long pid = complete ? Fork(header.has_cgroup ? fds[3] : -1) : -EINVAL;
    if (pid == 0) {
      *forked = true;
      header.tmpdir[sizeof header.tmpdir - 1] = '\0';
      *child = {fds[0], fds[1], fds[2], header.has_cgroup ? fds[3] : -1, header.index, header.tmpdir};
      return kExitOk;
    }
    for (int fd : fds) close(fd);
    const auto reply = static_cast<std::int32_t>(pid);
    (void)!send(kZygoteFd, &reply, sizeof reply, MSG_NOSIGNAL);
  }
}

}  // namespace sv::worker
