// `supervisorctl check-config`: a config file checked the way the daemon
// checks it at start-up, plugins loaded in a real sv-worker, without a daemon.
// Runs in the supervisorctl process.
#pragma once

#include <ostream>
#include <string>

namespace sv::ctl {

// Loads `file` (config::LoadFile), then probes each pool's plugin in
// `worker_path --zygote` (supervisor/probe.h) unless `worker_path` is empty.
// Prints "FILE: ok" on `out`, or every problem as "file:line:col: key: message"
// on `err`; --json prints {"file", "ok", "problems": [{"file", "line",
// "column", "key", "message"}]} on `out` instead. Blocks while plugins load (up
// to each pool's start_timeout). Returns kExitOk or kExitFailed.
int CheckConfig(const std::string& file, const std::string& worker_path, bool json, std::ostream& out,
                std::ostream& err);

}  // namespace sv::ctl
