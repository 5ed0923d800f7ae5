// /metrics in the Prometheus text exposition format (0.0.4). Pure.
#pragma once

#include <string>
#include <vector>

#include "supervisor/supervisor.h"

namespace sv::daemon {

std::string RenderMetrics(const std::vector<supervisor::PoolStatus>& pools);

}  // namespace sv::daemon
