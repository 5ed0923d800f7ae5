#include "worker/cgroup_join.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <span>
#include <string_view>

#include "base/io.h"
#include "base/unique_fd.h"

namespace sv::worker {

Status JoinCgroup(const std::string& path) {
  const std::string procs = path + "/cgroup.procs";
  UniqueFd fd(open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return FailErrno("join cgroup: open " + procs, errno);
  // "0" names the writer itself; the kernel acts on each write(2) whole.
  constexpr std::string_view kSelf = "0\n";
  if (Status s = WriteAll(fd.get(), std::as_bytes(std::span(kSelf))); !s) {
    return FailErrno("join cgroup: write " + procs, s.error().sys_errno());
  }
  return {};
}

}  // namespace sv::worker
