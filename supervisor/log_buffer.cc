#include "supervisor/log_buffer.h"

#include <algorithm>
#include <utility>

namespace sv::supervisor {

std::string_view LogStreamName(LogStream stream) { return stream == LogStream::kStdout ? "stdout" : "stderr"; }

LogBuffer::LogBuffer(LogBufferOptions options) : options_(options) {}

void LogBuffer::Append(std::string_view bytes, std::vector<std::string>* completed) {
  bool any = false;
  {
    std::lock_guard lock(mu_);
    while (!bytes.empty()) {
      const std::size_t room = options_.max_line - partial_.size();
      // A newline right after max_line bytes ends that line: no empty piece.
      const std::size_t newline = bytes.substr(0, room + 1).find('\n');
      if (newline == std::string_view::npos && bytes.size() <= room) {
        partial_.append(bytes);  // carried to the next Append
        break;
      }
      // A whole line, or a piece of max_line bytes of a longer one.
      const std::size_t take = newline == std::string_view::npos ? room : newline;
      partial_.append(bytes.substr(0, take));
      bytes.remove_prefix(newline == std::string_view::npos ? take : take + 1);
      KeepLocked(std::exchange(partial_, {}), completed);
      any = true;
    }
  }
  if (any) appended_.notify_all();
}

void LogBuffer::KeepLocked(std::string text, std::vector<std::string>* completed) {
  if (completed != nullptr) completed->push_back(text);
  bytes_ += text.size() + kLineOverhead;
  lines_.push_back({next_seq_++, std::move(text)});
  while (!lines_.empty() && (bytes_ > options_.max_bytes || lines_.size() > options_.max_lines)) {
    bytes_ -= lines_.front().text.size() + kLineOverhead;
    lines_.pop_front();
    ++dropped_;
  }
}

LogRead LogBuffer::Tail(std::size_t n) const {
  std::lock_guard lock(mu_);
  LogRead read;
  const std::size_t count = std::min(n, lines_.size());
  read.lines.assign(lines_.end() - static_cast<std::ptrdiff_t>(count), lines_.end());
  read.next = NewestLocked();
  return read;
}

LogRead LogBuffer::After(std::uint64_t after, std::size_t limit) const {
  std::lock_guard lock(mu_);
  return AfterLocked(after, limit);
}

LogRead LogBuffer::AfterLocked(std::uint64_t after, std::size_t limit) const {
  LogRead read;
  const std::uint64_t newest = NewestLocked();
  read.next = std::min(after, newest);
  if (after >= newest) return read;
  const std::uint64_t oldest = lines_.empty() ? newest + 1 : lines_.front().seq;
  const std::uint64_t first = std::max(after + 1, oldest);
  read.dropped = first - (after + 1);
  auto begin = lines_.begin() + static_cast<std::ptrdiff_t>(first - oldest);
  const auto count = static_cast<std::ptrdiff_t>(std::min(limit, static_cast<std::size_t>(lines_.end() - begin)));
  read.lines.assign(begin, begin + count);
  read.next = read.lines.empty() ? newest : read.lines.back().seq;
  return read;
}

LogRead LogBuffer::WaitAfter(std::uint64_t after, std::size_t limit, Deadline deadline) {
  std::unique_lock lock(mu_);
  // Beyond the newest already: a stale reader, answered at once.
  const bool stale = after > NewestLocked();
  appended_.wait_until(lock, deadline.when(), [&] { return stale || shutdown_ || NewestLocked() > after; });
  return AfterLocked(after, limit);
}

void LogBuffer::Shutdown() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  appended_.notify_all();
}

LogStats LogBuffer::Stats() const {
  std::lock_guard lock(mu_);
  return {NewestLocked(), dropped_, bytes_};
}

}  // namespace sv::supervisor
