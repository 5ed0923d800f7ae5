#include "worker/tmpdir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace sv::worker {
namespace {

// Empties the directory open at `dir` (which it consumes); `where` names it in errors.
Status EmptyDirectory(UniqueFd dir, const std::string& where) {
  // The plugin may have made it read-only; it cannot stop its owner this way.
  if (fchmod(dir.get(), 0700) != 0) return FailErrno("chmod " + where, errno);
  DIR* stream = fdopendir(dir.get());
  if (stream == nullptr) return FailErrno("fdopendir " + where, errno);
  const int fd = dir.Release();  // owned by `stream` from here on
  Status result;
  while (dirent* entry = readdir(stream)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    const std::string path = where + "/" + entry->d_name;
    if (unlinkat(fd, entry->d_name, 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) {
      result = FailErrno("unlink " + path, errno);
      break;
    }
    // A directory: open it without following a link, empty it, remove it.
    UniqueFd child(openat(fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      result = FailErrno("open " + path, errno);
      break;
    }
    if (Status s = EmptyDirectory(std::move(child), path); !s) {
      result = s;
      break;
    }
    if (unlinkat(fd, entry->d_name, AT_REMOVEDIR) != 0) {
      result = FailErrno("rmdir " + path, errno);
      break;
    }
  }
  closedir(stream);
  return result;
}

}  // namespace

Status RemoveTree(const std::string& path) {
  UniqueFd dir(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    if (errno == ENOENT) return {};
    if (errno == ENOTDIR || errno == ELOOP) {  // replaced by a file or a link: remove just that
      if (unlink(path.c_str()) != 0) return FailErrno("unlink " + path, errno);
      return {};
    }
    return FailErrno("open " + path, errno);
  }
  if (Status s = EmptyDirectory(std::move(dir), path); !s) return s;
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) return FailErrno("rmdir " + path, errno);
  return {};
}

}  // namespace sv::worker
