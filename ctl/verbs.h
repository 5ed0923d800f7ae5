// Running a parsed supervisorctl command against the daemon: each verb's
// requests (docs/api.md), its output for a person or as JSON, and its exit
// code. Runs in the supervisorctl process.
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <string_view>

#include "base/error.h"
#include "ctl/client.h"
#include "ctl/commands.h"

namespace sv::ctl {

// Where a verb reads its input (call -) and writes results and problems.
struct Streams {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// Runs every verb that talks to the daemon (all but help and check-config).
// `config` names the config file the socket came from, for the hint printed
// when the daemon cannot be reached (may be empty). Blocks until the verb is
// done, its --timeout or default timeout has passed, or (tail -f without
// --timeout) the process is interrupted. Returns the exit code.
int RunVerb(const Command& command, const Client& client, const std::string& config, Streams io);

// The exit code for an error answer of the API: NotFound and Forbidden
// kExitUnknown, BadRequest kExitUsage, anything else kExitFailed.
int ExitCodeForApiError(int http_status, std::string_view code);

// The exit code for a failed exchange: kExitUnknown when the daemon cannot be
// reached (no socket, refused, no permission), else kExitFailed.
int ExitCodeForClientError(const Error& error);

// The worse of two exit codes, for a verb with several targets:
// kExitUnknown > kExitUsage > kExitFailed > kExitNotRunning > kExitOk.
int WorseExitCode(int a, int b);

// An error answer for a person: "NotFound: no pool named 'zlb'", with
// "(plugin code N)" for a PluginError; the status and a prefix of the body
// when it is not the API's error JSON.
std::string DescribeApiError(int http_status, std::string_view body);

// A failed exchange for a person; when the daemon cannot be reached:
// "cannot reach the supervisor at PATH: No such file or directory (is it
// running? start it with: supervisor -c CONFIG)".
std::string DescribeClientError(const Error& error, const std::string& socket, const std::string& config);

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

}  // namespace sv::ctl
