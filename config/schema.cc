// Names of schema enums.
#include "config/schema.h"

namespace sv::config {

std::string_view LogLevelName(LogLevel level) { return kLogLevelNames[static_cast<std::size_t>(level)]; }

}  // namespace sv::config
