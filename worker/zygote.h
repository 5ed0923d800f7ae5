// The zygote protocol: an sv-worker started with --zygote loads the plugin once
// and forks ready-to-init workers on request, so a new worker costs a fork
// instead of an exec, the dynamic loader and dlopen. Both ends live here: the
// zygote side runs in the zygote, the request side in the supervisor.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <string>

#include "base/deadline.h"
#include "base/error.h"

namespace sv::worker {

// One fork request: the new worker's channel and ready eventfd (received as
// its fds 3, 4 and 5), optionally the cgroup directory to start it in, and
// what differs between workers of a pool.
struct ZygoteRequest {
  int request_fd = -1;
  int response_fd = -1;
  int notify_fd = -1;
  int cgroup_fd = -1;  // -1: the zygote's own cgroup
  std::uint32_t index = 0;
  std::string tmpdir;
};

// Supervisor side. Waits for the zygote's ready byte on `socket` until
// `deadline`. kStartFailed with the reason when the plugin cannot be loaded;
// kUnsupported when it loads but cannot be forked (it runs threads once loaded).
[[nodiscard]] Status AwaitZygote(int socket, Deadline deadline);
// Supervisor side. Asks for a worker and returns its pid: a child of the
// caller (CLONE_PARENT), unreaped, so pidfd_open on it is safe. kClosed when
// the zygote is gone; kSystem with the zygote's errno when it could not fork.
[[nodiscard]] std::expected<pid_t, Error> ForkFromZygote(int socket, const ZygoteRequest& request,
                                                         Deadline deadline);

// Zygote side: answers requests on kZygoteFd until it closes. Returns 0 in
// the zygote when the supervisor hangs up; returns in each forked child with
// `*child` set to the request, for the caller to go on as a worker.
int RunZygote(bool* forked, ZygoteRequest* child);

}  // namespace sv::worker
