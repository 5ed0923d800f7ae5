#include "supervisor/internal/log_pump.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sv::supervisor {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kPipeSize = 1 << 20;     // room for a burst before a writer blocks
constexpr int kReadsPerTurn = 16;      // then the other streams get their turn
constexpr std::uint64_t kStopKey = 0;  // epoll data of the stop eventfd; streams use their address

}  // namespace

LogPump::LogPump(OutputSink sink, std::uint32_t rate, LogBufferOptions options)
    : sink_(std::move(sink)), rate_(rate), options_(options) {}

std::expected<std::unique_ptr<LogPump>, Error> LogPump::Create(OutputSink sink, std::uint32_t sink_lines_per_second,
                                                               LogBufferOptions options) {
  std::unique_ptr<LogPump> pump(new LogPump(std::move(sink), sink_lines_per_second, options));
  pump->epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  if (!pump->epoll_) return FailErrno("epoll_create1 (log thread)", errno);
  auto stop = stop::StopEventFd::Create(pump->stop_source_.get_token());
  if (!stop) return std::unexpected(stop.error());
  pump->stop_fd_ = std::move(*stop);
  epoll_event ev{EPOLLIN, {.u64 = kStopKey}};
  if (epoll_ctl(pump->epoll_.get(), EPOLL_CTL_ADD, pump->stop_fd_->fd(), &ev) != 0) {
    return FailErrno("epoll_ctl (log thread)", errno);
  }
  pump->thread_ = std::jthread([p = pump.get()] { p->Run(p->stop_source_.get_token()); });
  return pump;
}

LogPump::~LogPump() { Stop(); }

std::expected<OutputStream*, Error> LogPump::Open(const std::string& pool, LogStream stream) {
  auto out = std::make_unique<OutputStream>(pool, stream, options_);
  int ends[2];
  const std::string what = "pipe for the " + std::string(LogStreamName(stream)) + " of pool " + pool;
  if (pipe2(ends, O_CLOEXEC) != 0) return FailErrno(what, errno);
  out->read_end = UniqueFd(ends[0]);
  out->write_end = UniqueFd(ends[1]);
  if (out->write_end.get() <= 2) {  // a dup2 onto its own number would keep O_CLOEXEC
    out->write_end = UniqueFd(fcntl(out->write_end.get(), F_DUPFD_CLOEXEC, 3));
    if (!out->write_end) return FailErrno("fcntl F_DUPFD_CLOEXEC " + what, errno);
  }
  if (fcntl(out->read_end.get(), F_SETFL, O_NONBLOCK) != 0) return FailErrno("fcntl O_NONBLOCK " + what, errno);
  (void)fcntl(out->read_end.get(), F_SETPIPE_SZ, kPipeSize);  // best effort: pipe-max-size may be lower
  OutputStream* raw = out.get();
  {
    std::lock_guard lock(mu_);
    streams_.push_back(std::move(out));
  }
  epoll_event ev{EPOLLIN, {.ptr = raw}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, raw->read_end.get(), &ev) != 0) {
    return FailErrno("epoll_ctl " + what, errno);
  }
  return raw;
}

void LogPump::Stop() {
  if (!thread_.joinable()) return;
  stop_source_.request_stop();
  thread_.join();
  for (OutputStream* out : Streams()) {
    Drain(*out);  // the last words of workers that just exited
    out->buffer.Shutdown();
  }
}

void LogPump::Run(std::stop_token token) {
  epoll_event events[32];
  while (!token.stop_requested()) {
    const int n = epoll_wait(epoll_.get(), events, 32, NoticeTimeoutMillis());
    if (n < 0 && errno != EINTR) return;  // cannot happen with a valid epoll fd
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 != kStopKey) Drain(*static_cast<OutputStream*>(events[i].data.ptr));
    }
    if (!sink_) continue;
    const Clock::time_point now = Clock::now();
    for (OutputStream* out : Streams()) {
      if (out->suppressed != 0) RollWindow(*out, now);
    }
  }
}

void LogPump::Drain(OutputStream& out) {
  std::vector<std::string> lines;
  for (int i = 0; i < kReadsPerTurn; ++i) {
    const ssize_t n = read(out.read_end.get(), chunk_.data(), chunk_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained (the write ends are ours too: no EOF)
    out.buffer.Append({chunk_.data(), static_cast<std::size_t>(n)}, sink_ ? &lines : nullptr);
  }
  if (sink_) Forward(out, lines);
}

void LogPump::Forward(OutputStream& out, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  RollWindow(out, Clock::now());
  for (const std::string& line : lines) {
    if (out.sent >= rate_) {
      ++out.suppressed;
      continue;
    }
    ++out.sent;
    sink_(out.pool, out.stream, line);
  }
}

void LogPump::RollWindow(OutputStream& out, Clock::time_point now) {
  if (now - out.window_start < 1s) return;
  if (out.suppressed != 0) sink_(out.pool, out.stream, "[" + std::to_string(out.suppressed) + " lines dropped]");
  out.window_start = now;
  out.sent = 0;
  out.suppressed = 0;
}

int LogPump::NoticeTimeoutMillis() {
  if (!sink_) return -1;
  std::optional<Clock::time_point> due;
  for (OutputStream* out : Streams()) {
    if (out->suppressed != 0) due = std::min(due.value_or(Clock::time_point::max()), out->window_start + 1s);
  }
  if (!due) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*due - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

std::vector<OutputStream*> LogPump::Streams() {
  std::lock_guard lock(mu_);
  std::vector<OutputStream*> out;
  for (const auto& stream : streams_) out.push_back(stream.get());
  return out;
}

}  // namespace sv::supervisor
