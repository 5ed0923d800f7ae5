// The supervisor's log thread: drains every pool's stdout and stderr pipes
// into their LogBuffers and hands lines to the application's output sink,
// rate-limited. Runs in the trusted process, on a thread of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "stop/stop_event_fd.h"
#include "supervisor/log_buffer.h"

namespace sv::supervisor {

using OutputSink = std::function<void(std::string_view pool, LogStream stream, std::string_view line)>;

// One output stream of one pool: a pipe whose write end every worker of the
// pool (and its zygote) has as fd 1 or 2, and the buffer its lines go to.
struct OutputStream {
  OutputStream(std::string pool_name, LogStream which, LogBufferOptions options)
      : pool(std::move(pool_name)), stream(which), buffer(options) {}
  const std::string pool;
  const LogStream stream;
  UniqueFd read_end;   // O_NONBLOCK; the log thread's
  UniqueFd write_end;  // blocking, as a worker expects its stdout to be
  LogBuffer buffer;
  // The sink's rate limit; the log thread's alone.
  std::chrono::steady_clock::time_point window_start{};
  std::uint32_t sent = 0;
  std::uint64_t suppressed = 0;
};

// Owns the streams (they live as long as the pump) and the thread.
// Thread-safe. A worker that floods blocks on its full pipe only until the
// thread's next read: lines the buffer cannot keep are dropped, not waited on.
class LogPump {
 public:
  // Starts the thread. `sink` may be empty. kSystem.
  [[nodiscard]] static std::expected<std::unique_ptr<LogPump>, Error> Create(OutputSink sink,
                                                                             std::uint32_t sink_lines_per_second,
                                                                             LogBufferOptions options);
  LogPump(const LogPump&) = delete;
  LogPump& operator=(const LogPump&) = delete;
  ~LogPump();

  // A new stream of `pool`, drained from now on; valid while the pump lives.
  // kSystem (pipe2, epoll_ctl).
  [[nodiscard]] std::expected<OutputStream*, Error> Open(const std::string& pool, LogStream stream);
  // Stops the thread, drains what the pipes still hold, and wakes (now and
  // from now on) every reader waiting on a buffer. Idempotent; blocks until
  // the thread has exited.
  void Stop();

 private:
  LogPump(OutputSink sink, std::uint32_t rate, LogBufferOptions options);
  void Run(std::stop_token token);
  void Drain(OutputStream& out);
  // Hands `lines` to the sink within the rate limit, counting the rest.
  void Forward(OutputStream& out, const std::vector<std::string>& lines);
  // Starts a new one-second window once the last has passed, first telling
  // the sink how many lines it did not get in it.
  void RollWindow(OutputStream& out, std::chrono::steady_clock::time_point now);
  // Until the next "[N lines dropped]" notice is due; -1: none is.
  int NoticeTimeoutMillis();
  std::vector<OutputStream*> Streams();

  const OutputSink sink_;
  const std::uint32_t rate_;
  const LogBufferOptions options_;
  UniqueFd epoll_;
  std::stop_source stop_source_;
  std::unique_ptr<stop::StopEventFd> stop_fd_;
  std::mutex mu_;
  std::vector<std::unique_ptr<OutputStream>> streams_;  // with mu_
  std::vector<char> chunk_ = std::vector<char>(1 << 16);  // the thread's read buffer
  std::jthread thread_;
};

}  // namespace sv::supervisor
