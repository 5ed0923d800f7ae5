// GoogleTest conveniences over the worker harness, shared by the test files
// that start real workers. Runs in the test process.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "base/unique_fd.h"
#include "tests/helpers/worker_process.h"

namespace sv::testing {

// The deadline for anything a test expects to happen promptly.
inline Deadline Soon() { return Deadline::After(std::chrono::seconds(20)); }

// Starts a worker and waits for it to be ready; a failure fails the test and
// returns null.
inline std::unique_ptr<WorkerProcess> StartForTest(SpawnOptions options) {
  auto w = WorkerProcess::Start(std::move(options), Soon());
  EXPECT_TRUE(w) << w.error().ToString();
  return w ? std::move(*w) : nullptr;
}

// A close-on-exec pipe; both ends invalid if pipe2 failed.
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
  static Pipe Create() {
    int fds[2] = {-1, -1};
    if (pipe2(fds, O_CLOEXEC) != 0) return {};
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

}  // namespace sv::testing
