// LogBuffer: the newest lines of one output stream (a pool's workers' stdout
// or stderr), bounded in bytes and lines, numbered for readers that follow
// it. Runs in the trusted process: the supervisor's log thread appends,
// operator threads read.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/deadline.h"

namespace sv::supervisor {

// Which output of a pool's workers.
enum class LogStream : std::uint8_t { kStdout, kStderr };
std::string_view LogStreamName(LogStream stream);  // "stdout", "stderr"

struct LogBufferOptions {
  std::size_t max_bytes = 1 << 20;  // text plus kLineOverhead per line, of the lines kept
  std::size_t max_lines = 16384;
  std::size_t max_line = 8192;      // longer lines are split into pieces of this size
};

struct LogLine {
  std::uint64_t seq = 0;  // 1, 2, ...: every line gets the next, kept or not
  std::string text;       // without the newline
  friend bool operator==(const LogLine&, const LogLine&) = default;
};

struct LogRead {
  std::vector<LogLine> lines;  // oldest first
  // Pass as `after` to continue: the seq of the last line returned, or of the
  // newest line when none was (0: no line yet).
  std::uint64_t next = 0;
  // Lines after `after` and before the first one returned that are no longer
  // kept (Tail: 0).
  std::uint64_t dropped = 0;
};

struct LogStats {
  std::uint64_t lines = 0;    // lines seen since the start
  std::uint64_t dropped = 0;  // of them, no longer kept
  std::uint64_t bytes = 0;    // what the lines kept cost against max_bytes
};

// Thread-safe. Lines are carried across Append() calls until their newline
// comes; the oldest are dropped (and counted) to stay within the budget.
class LogBuffer {
 public:
  // What a line costs beyond its text (its string and deque entry), so that a
  // flood of empty lines is bounded as well.
  static constexpr std::size_t kLineOverhead = 48;

  explicit LogBuffer(LogBufferOptions options = {});
  LogBuffer(const LogBuffer&) = delete;
  LogBuffer& operator=(const LogBuffer&) = delete;

  // Takes raw bytes of the stream. Each line completed (or split off) is kept
  // and, when `completed` is given, also appended to it. Wakes waiting readers.
  void Append(std::string_view bytes, std::vector<std::string>* completed = nullptr);
  // The newest `n` lines kept.
  LogRead Tail(std::size_t n) const;
  // Up to `limit` lines with seq > `after`. An `after` beyond the newest line
  // (a reader of an earlier supervisor) returns no line and next = the newest.
  LogRead After(std::uint64_t after, std::size_t limit) const;
  // After(), but when there is nothing newer than `after` yet, blocks until a
  // line comes, `deadline`, or Shutdown(); then returns what there is.
  LogRead WaitAfter(std::uint64_t after, std::size_t limit, Deadline deadline);
  // Wakes every waiting reader, now and from now on.
  void Shutdown();
  LogStats Stats() const;

 private:
  void KeepLocked(std::string text, std::vector<std::string>* completed);
  LogRead AfterLocked(std::uint64_t after, std::size_t limit) const;
  std::uint64_t NewestLocked() const { return next_seq_ - 1; }

  const LogBufferOptions options_;
  mutable std::mutex mu_;
  std::condition_variable appended_;
  std::deque<LogLine> lines_;  // consecutive seqs, oldest first
  std::string partial_;        // the current line, until its newline
  std::uint64_t next_seq_ = 1;
  std::uint64_t dropped_ = 0;
  std::size_t bytes_ = 0;
  bool shutdown_ = false;
};

}  // namespace sv::supervisor
