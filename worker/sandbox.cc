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

Status Limit(int resource, const char* name, std::uint64_t value) {
  rlimit limit{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  if (setrlimit(resource, &limit) != 0) {
    return FailErrno(std::string("setrlimit ") + name + "=" + std::to_string(value), errno);
  }
  return {};
}

Status ApplyLimits(const Limits& limits) {
  if (limits.address_space) {
    if (Status s = Limit(RLIMIT_AS, "RLIMIT_AS", *limits.address_space); !s) return s;
  }
  if (limits.cpu_seconds) {
    // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
    rlimit cpu{static_cast<rlim_t>(*limits.cpu_seconds), static_cast<rlim_t>(*limits.cpu_seconds + 1)};
    if (setrlimit(RLIMIT_CPU, &cpu) != 0) return FailErrno("setrlimit RLIMIT_CPU", errno);
  }
  if (limits.open_files) {
    if (Status s = Limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", *limits.open_files); !s) return s;
  }
  return Limit(RLIMIT_CORE, "RLIMIT_CORE", limits.core_size);
}

}  // namespace

Status PrepareProcess(const Options& options) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return FailErrno("prctl PR_SET_PDEATHSIG", errno);
  // The parent may have died before the prctl: then nobody would kill us.
  if (getppid() != options.parent) {
    return Fail(ErrorCode::kInUse, "parent " + std::to_string(options.parent) + " is gone");
  }
  if (close_range(ipc::kResponseFd + 1, ~0u, 0) != 0) return FailErrno("close_range", errno);
  if (setpgid(0, 0) != 0) return FailErrno("setpgid", errno);
  if (Status s = ApplyLimits(options.limits); !s) return s;
  if (!options.tmpdir.empty()) {
    if (mkdir(options.tmpdir.c_str(), 0700) != 0) return FailErrno("mkdir TMPDIR " + options.tmpdir, errno);
    if (setenv("TMPDIR", options.tmpdir.c_str(), 1) != 0) return FailErrno("setenv TMPDIR", errno);
  }
  return {};
}

}  // namespace sv::worker
