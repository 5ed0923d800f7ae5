// sv-worker: the process a pool's plugin runs in. Started by the supervisor
// with the channel at fds 3 (request, read-only) and 4 (response); see
// docs/plugins.md. Exit codes: 0 graceful stop, 100 permanent failure (bad
// arguments or limits, plugin cannot load or init refuses, channel of another
// layout version), 101 a bug, 111 temporary failure.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

#include "ipc/layout.h"
#include "ipc/worker_channel.h"
#include "stop/signal_safe_stop_source.h"
#include "stop/strategy.h"
#include "worker/options.h"
#include "worker/plugin_host.h"
#include "worker/sandbox.h"
#include "worker/zygote.h"

namespace {

using namespace sv;
using namespace sv::worker;

// Lives until the process exits: the SIGTERM handler may run at any moment.
stop::SignalSafeStopSource* g_stop = nullptr;

void OnTerm(int) { g_stop->RequestStop(); }

int Die(const Options* options, int code, const Error& error) {
  if (options != nullptr) {
    std::fprintf(stderr, "sv-worker[%s:%u]: %s\n", options->pool.c_str(), options->index, error.ToString().c_str());
  } else {
    std::fprintf(stderr, "sv-worker: %s\n", error.ToString().c_str());
  }
  return code;
}

// Exit code for a failure before the plugin loads: retrying cannot fix bad
// arguments, a limit the kernel refuses, or a channel of another version.
int SetupExitCode(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kProtocolViolation:
    case ErrorCode::kUnsupported:
      return kExitPermanent;
    default:
      return kExitTemporary;
  }
}

// SIGTERM asks for a graceful stop, like the channel's stop request. The wait
// for requests uses the signal-free eventfd strategy of stop/, so the plugin may
// own every signal, including the stop library's; SA_RESTART keeps SIGTERM from
// interrupting a plugin's own blocking calls mid-call.
std::expected<std::stop_token, Error> SetUpGracefulStop() {
  if (auto s = stop::Init({.strategy = stop::Strategy::kEventFd}); !s) return std::unexpected(s.error());
  auto source = stop::SignalSafeStopSource::Create();
  if (!source) return std::unexpected(source.error());
  g_stop = source->release();
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, nullptr) != 0) return FailErrno("sigaction SIGTERM", errno);
  return g_stop->get_token();
}

// Tells the supervisor the hello is answered (see Options::notify). Best
// effort: a supervisor that closed its end learns the rest from the channel.
void Notify(const Options& options) {
  if (!options.notify) return;
  const std::uint64_t one = 1;
  (void)!write(kNotifyFd, &one, sizeof one);
  close(kNotifyFd);
}

// The plugin's helper programs must not inherit the channel; our mappings stay.
Status CloseChannelOnExec(const Options& options) {
  for (int fd : {ipc::kRequestFd, ipc::kResponseFd, options.notify ? kNotifyFd : ipc::kResponseFd}) {
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return FailErrno("fcntl FD_CLOEXEC fd=" + std::to_string(fd), errno);
  }
  return {};
}

// Answers the hello (the plugin's init), then serves calls until stopped.
int Serve(const Options& options, ipc::WorkerChannel& channel, const std::stop_token& token,
          std::expected<std::unique_ptr<PluginHost>, Error>& host) {
  if (!host) {
    channel.ReportInitFailed(SV_INIT_FATAL, host.error().message());
    Notify(options);
    return Die(&options, kExitPermanent, host.error());
  }
  if (auto init = (*host)->Init(); !init) {
    channel.ReportInitFailed(init.error().code, "init: " + init.error().message);
    Notify(options);
    return Die(&options, init.error().permanent ? kExitPermanent : kExitTemporary,
               Error(ErrorCode::kPluginError, "plugin init failed: " + init.error().message));
  }
  channel.ReportReady();
  Notify(options);
  for (;;) {
    auto request = channel.Next(token);
    if (!request) {
      if (request.error().stopped()) break;
      if (request.error().code() == ErrorCode::kProtocolViolation) {
        channel.ReplyError(ipc::ResponseStatus::kBadRequest, 0, request.error().message());
        return Die(&options, kExitBug, request.error());
      }
      return Die(&options, SetupExitCode(request.error()), request.error());
    }
    if (request->kind == ipc::RequestKind::kStop) break;
    (*host)->Serve(*request, channel);
  }
  (*host)->Shutdown();
  return kExitOk;
}

// From the channel's fds on: what every worker does, forked or exec'd.
int RunWorker(const Options& options, std::expected<std::unique_ptr<PluginHost>, Error>& host) {
  const Options* o = &options;
  // The channel is mapped before the limits apply, so they cannot refuse it.
  auto channel = ipc::WorkerChannel::Attach(ipc::kRequestFd, ipc::kResponseFd, o->spin);
  if (!channel) return Die(o, SetupExitCode(channel.error()), channel.error());
  if (Status s = CloseChannelOnExec(*o); !s) return Die(o, kExitTemporary, s.error());
  auto token = SetUpGracefulStop();
  if (!token) return Die(o, SetupExitCode(token.error()), token.error());
  if (Status s = Confine(*o); !s) return Die(o, SetupExitCode(s.error()), s.error());
  if (!host) host = PluginHost::Load(*o);
  return Serve(*o, **channel, *token, host);
}

// In a child the zygote forked: its own fds 3, 4 and 5, then a worker's isolation.
Status BecomeWorker(Options& options, const ZygoteRequest& child) {
  close(kZygoteFd);
  int high[3];
  const int given[3] = {child.request_fd, child.response_fd, child.notify_fd};
  for (int i = 0; i < 3; ++i) {
    high[i] = fcntl(given[i], F_DUPFD_CLOEXEC, 10);
    if (high[i] < 0) return FailErrno("fcntl F_DUPFD_CLOEXEC", errno);
    close(given[i]);
  }
  if (child.cgroup_fd >= 0) close(child.cgroup_fd);
  for (int i = 0; i < 3; ++i) {
    if (dup2(high[i], ipc::kRequestFd + i) < 0) return FailErrno("dup2", errno);
    close(high[i]);
  }
  options.zygote = false;
  options.notify = true;
  options.index = child.index;
  options.tmpdir = child.tmpdir;
  return IsolateForked(options);
}

// --zygote: limits, the plugin loaded once, then a fork per worker.
int RunZygoteMain(Options& options) {
  const Options* o = &options;
  if (Status s = Confine(*o); !s) {
    const std::string why = "F" + s.error().ToString();
    (void)!send(kZygoteFd, why.data(), why.size(), MSG_NOSIGNAL);
    return Die(o, SetupExitCode(s.error()), s.error());
  }
  // Fds 4 and 5 are a forked worker's channel and ready eventfd: taken now,
  // so nothing the plugin opens while it loads lands there.
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(null, ipc::kResponseFd) < 0 || dup2(null, kNotifyFd) < 0) {
    return Die(o, kExitTemporary, Error::FromErrno("reserve fds 4 and 5", errno));
  }
  if (null != ipc::kResponseFd && null != kNotifyFd) close(null);
  auto host = PluginHost::Load(*o);
  if (!host) {
    const std::string why = "F" + host.error().message();
    (void)!send(kZygoteFd, why.data(), why.size(), MSG_NOSIGNAL);
    return Die(o, kExitPermanent, host.error());
  }
  bool forked = false;
  ZygoteRequest child;
  const int rc = RunZygote(&forked, &child);
  if (!forked) return rc;
  if (Status s = BecomeWorker(options, child); !s) return Die(o, SetupExitCode(s.error()), s.error());
  return RunWorker(options, host);
}

}  // namespace

int main(int argc, char** argv) {
  auto options = ParseOptions(argc, argv);
  if (!options) return Die(nullptr, kExitPermanent, options.error());
  if (Status s = Isolate(*options); !s) return Die(&*options, SetupExitCode(s.error()), s.error());
  if (options->zygote) return RunZygoteMain(*options);
  std::expected<std::unique_ptr<PluginHost>, Error> host = std::unexpected(Error(ErrorCode::kInternal, "not loaded"));
  return RunWorker(*options, host);
}
