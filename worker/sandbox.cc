#include "worker/sandbox.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>

#include "ipc/layout.h"

namespace sv::worker {
namespace {

Status Limit(int resource, const char* name, std::uint64_t soft, std::uint64_t hard) {
  rlimit limit{static_cast<rlim_t>(soft), static_cast<rlim_t>(hard)};
  if (setrlimit(resource, &limit) != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                Error::FromErrno(std::string("setrlimit ") + name + "=" + std::to_string(soft), errno).ToString());
  }
  return {};
}

Status ApplyLimits(const Limits& limits) {
  if (limits.address_space) {
    if (Status s = Limit(RLIMIT_AS, "RLIMIT_AS", *limits.address_space, *limits.address_space); !s) return s;
  }
  if (limits.cpu_seconds) {
    // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
    const std::uint64_t soft = *limits.cpu_seconds;
    const std::uint64_t hard = soft == RLIM_INFINITY ? soft : soft + 1;
    if (Status s = Limit(RLIMIT_CPU, "RLIMIT_CPU", soft, hard); !s) return s;
  }
  if (limits.open_files) {
    if (Status s = Limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", *limits.open_files, *limits.open_files); !s) return s;
  }
  return Limit(RLIMIT_CORE, "RLIMIT_CORE", limits.core_size, limits.core_size);
}

// Unblocks every signal and resets every disposition to the default.
Status ResetSignals() {
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) return FailErrno("sigprocmask", errno);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);  // EINVAL for numbers glibc reserves: nothing to reset
  }
  return {};
}

}  // namespace

Status Isolate(const Options& options) {
  if (Status s = IsolateForked(options); !s) return s;
  if (Status s = ResetSignals(); !s) return s;
  // A zygote keeps only its control socket (fd 3).
  const int first_closed = options.zygote ? kZygoteFd + 1 : (options.notify ? kNotifyFd : ipc::kResponseFd) + 1;
  if (close_range(first_closed, ~0u, 0) != 0) return FailErrno("close_range", errno);
  return {};
}

Status IsolateForked(const Options& options) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return FailErrno("prctl PR_SET_PDEATHSIG", errno);
  // The parent may have died before the prctl: then nobody would kill us.
  if (getppid() != options.parent) {
    return Fail(ErrorCode::kInUse, "parent " + std::to_string(options.parent) + " is gone");
  }
  if (setpgid(0, 0) != 0) return FailErrno("setpgid", errno);
  return {};
}

Status Confine(const Options& options) {
  if (Status s = ApplyLimits(options.limits); !s) return s;
  if (!options.tmpdir.empty()) {
    if (mkdir(options.tmpdir.c_str(), 0700) != 0) return FailErrno("mkdir TMPDIR " + options.tmpdir, errno);
    if (setenv("TMPDIR", options.tmpdir.c_str(), 1) != 0) return FailErrno("setenv TMPDIR", errno);
  }
  return {};
}

}  // namespace sv::worker
