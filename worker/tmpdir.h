// Removing a dead worker's private TMPDIR. Runs in the trusted process, after
// the worker (and anything it left running) is gone.
#pragma once

#include <string>

#include "base/error.h"

namespace sv::worker {

// Deletes `path` and everything below it without following a symbolic link
// anywhere: the plugin chose the tree's contents, and a link it planted to
// /etc must only lose the link. A missing `path` is success. Errors name the
// entry that could not be removed.
[[nodiscard]] Status RemoveTree(const std::string& path);

}  // namespace sv::worker
