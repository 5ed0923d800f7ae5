#include "supervisor/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <span>
#include <thread>

#include "base/deadline.h"
#include "base/io.h"
#include "base/unique_fd.h"

namespace sv::supervisor {
namespace {

// Where a cgroup2 hierarchy is mounted: `root` is the cgroup it shows (usually
// "/"), `point` the directory it is mounted on.
struct Mount {
  std::string root;
  std::string point;
};

std::unexpected<Error> Unsupported(std::string message, int err = 0) {
  return std::unexpected(Error(ErrorCode::kUnsupported, std::move(message), err));
}

[[nodiscard]] std::expected<std::string, Error> ReadFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return FailErrno("open " + path, errno);
  std::string text;
  char buf[4096];
  for (;;) {
    auto n = ReadSome(fd.get(), std::as_writable_bytes(std::span(buf)));
    if (!n) return std::unexpected(Error::FromErrno("read " + path, n.error().sys_errno()));
    if (*n == 0) return text;
    text.append(buf, *n);
  }
}

// One write of `text`: cgroup interface files act on each write(2) whole.
[[nodiscard]] Status WriteFile(const std::string& path, std::string_view text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return FailErrno("open " + path, errno);
  if (Status s = WriteAll(fd.get(), std::as_bytes(std::span(text))); !s) {
    return FailErrno("write " + path, s.error().sys_errno());
  }
  return {};
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view field) {
  const auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && field.size() - i > 3 && is_octal(field[i + 1]) && is_octal(field[i + 2]) &&
        is_octal(field[i + 3])) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

// The next space-separated field of `line`, consumed from it.
std::string_view NextField(std::string_view& line) {
  const std::size_t end = std::min(line.find(' '), line.size());
  std::string_view field = line.substr(0, end);
  line.remove_prefix(std::min(end + 1, line.size()));
  return field;
}

// The mount a mountinfo line describes when its type is cgroup2. A line reads
// "id parent major:minor root point options [optional...] - type source super".
std::optional<Mount> ParseCgroup2Mount(std::string_view line) {
  const std::size_t dash = line.find(" - ");
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view tail = line.substr(dash + 3);
  if (NextField(tail) != "cgroup2") return std::nullopt;
  for (int i = 0; i < 3; ++i) NextField(line);  // id, parent, major:minor
  Mount mount;
  mount.root = Unescape(NextField(line));
  mount.point = Unescape(NextField(line));
  return mount;
}

[[nodiscard]] std::expected<Mount, Error> FindCgroup2Mount() {
  auto text = ReadFile("/proc/self/mountinfo");
  if (!text) return Unsupported("no cgroup2 mount: " + text.error().ToString());
  std::string_view rest = *text;
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find('\n'), rest.size());
    if (auto mount = ParseCgroup2Mount(rest.substr(0, end))) return *mount;
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return Unsupported("no cgroup2 mount");
}

// Our cgroup in the v2 hierarchy: the "0::/path" line of /proc/self/cgroup.
[[nodiscard]] std::expected<std::string, Error> OwnCgroup() {
  auto text = ReadFile("/proc/self/cgroup");
  if (!text) return Unsupported("no cgroup v2 entry: " + text.error().ToString());
  std::string_view rest = *text;
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find('\n'), rest.size());
    std::string_view line = rest.substr(0, end);
    if (line.starts_with("0::/")) return std::string(line.substr(3));
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return Unsupported("no cgroup v2 entry in /proc/self/cgroup");
}

// The directory of our cgroup: the mount point plus our cgroup's path below
// the mount's root (a container may mount only its own part of the hierarchy).
[[nodiscard]] std::expected<std::string, Error> OwnCgroupDir() {
  auto mount = FindCgroup2Mount();
  if (!mount) return std::unexpected(mount.error());
  auto own = OwnCgroup();
  if (!own) return std::unexpected(own.error());
  std::string_view relative = *own;
  if (mount->root != "/") {
    if (!relative.starts_with(mount->root)) {
      return Unsupported("our cgroup " + *own + " is outside the cgroup2 mount of " + mount->root);
    }
    relative.remove_prefix(mount->root.size());
  }
  std::string dir = mount->point;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (relative != "/") dir += relative;
  return dir;
}

// A name usable as one directory below a cgroup.
bool IsPathComponent(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) { return c == '/' || (c >= 0 && c < ' '); });
}

// mkdir; an empty directory left by an earlier process of our pid is replaced.
[[nodiscard]] Status MakeSubtree(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0) return {};
  if (errno == EEXIST && rmdir(dir.c_str()) == 0 && mkdir(dir.c_str(), 0755) == 0) return {};
  return Unsupported("mkdir " + dir, errno);
}

// Waits until no process is left below `dir` or the deadline passes. Polls:
// only the destructor waits, and for at most a second.
void WaitUnpopulated(const std::string& dir, Deadline deadline) {
  for (;;) {
    auto events = ReadFile(dir + "/cgroup.events");
    if (!events || events->find("populated 0") != std::string::npos) return;
    if (deadline.Expired()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

std::string_view KillScopeName(KillScope scope) {
  switch (scope) {
    case KillScope::kCgroup: return "cgroup";
    case KillScope::kProcessGroup: return "process group";
  }
  return "unknown";
}

std::expected<std::unique_ptr<CgroupTree>, Error> CgroupTree::Open(std::string_view name_hint) {
  const std::string name = std::string(name_hint.empty() ? "sv" : name_hint) + "-" + std::to_string(getpid());
  if (!IsPathComponent(name)) {
    return Fail(ErrorCode::kInvalidArgument, "cgroup name hint \"" + std::string(name_hint) + "\"");
  }
  auto parent = OwnCgroupDir();
  if (!parent) return std::unexpected(parent.error());
  const std::string root = *parent + "/" + name;
  if (Status s = MakeSubtree(root); !s) return std::unexpected(s.error());
  // From here the destructor removes `root` on every error path.
  auto tree = std::unique_ptr<CgroupTree>(new CgroupTree(root));
  if (access((root + "/cgroup.kill").c_str(), F_OK) != 0) return Unsupported("no cgroup.kill (Linux < 5.14)");
  // Workers live one level down and may not add levels of their own.
  if (Status s = WriteFile(root + "/cgroup.max.depth", "1"); !s) {
    return Unsupported(s.error().message(), s.error().sys_errno());
  }
  return tree;
}

CgroupTree::~CgroupTree() {
  // Best effort throughout: there is no one to report to, and each step is
  // worth trying even when the one before failed.
  (void)WriteFile(root_ + "/cgroup.kill", "1");
  WaitUnpopulated(root_, Deadline::After(std::chrono::seconds(1)));
  for (const std::string& path : workers_) rmdir(path.c_str());
  rmdir(root_.c_str());
}

std::expected<std::string, Error> CgroupTree::CreateWorker(std::string_view pool, std::uint32_t slot,
                                                           std::uint64_t generation) {
  if (!IsPathComponent(pool)) {
    return Fail(ErrorCode::kInvalidArgument, "pool name \"" + std::string(pool) + "\" as a cgroup name");
  }
  std::string path =
      root_ + "/" + std::string(pool) + "." + std::to_string(slot) + "." + std::to_string(generation);
  if (mkdir(path.c_str(), 0755) != 0) return FailErrno("mkdir " + path, errno);
  workers_.insert(path);
  return path;
}

Status CgroupTree::Kill(const std::string& path) {
  if (Status s = CheckOurs(path); !s) return s;
  return WriteFile(path + "/cgroup.kill", "1");
}

Status CgroupTree::Remove(const std::string& path) {
  if (Status s = CheckOurs(path); !s) return s;
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) {
    if (errno == EBUSY) return std::unexpected(Error(ErrorCode::kInUse, "rmdir " + path, EBUSY));
    return FailErrno("rmdir " + path, errno);
  }
  workers_.erase(path);
  return {};
}

std::expected<std::size_t, Error> CgroupTree::ProcessCount(const std::string& path) const {
  auto procs = ReadFile(path + "/cgroup.procs");
  if (!procs) return std::unexpected(procs.error());
  return static_cast<std::size_t>(std::count(procs->begin(), procs->end(), '\n'));
}

Status CgroupTree::CheckOurs(const std::string& path) const {
  if (workers_.contains(path)) return {};
  return Fail(ErrorCode::kInvalidArgument, path + " is not a worker cgroup of " + root_);
}

}  // namespace sv::supervisor
