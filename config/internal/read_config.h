// The schema's tables: which keys each map of pools.yaml allows and how each is
// read and checked. Private to config/.
#pragma once

#include <yaml-cpp/yaml.h>

#include "config/internal/reader.h"
#include "config/schema.h"

namespace sv::config::internal {

// Reads a whole document. Every problem goes to `r`; the result holds what
// could be read (defaults elsewhere), so later checks can still run on it.
Config ReadConfig(Reader& r, const YAML::Node& root);

}  // namespace sv::config::internal
