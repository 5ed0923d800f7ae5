// sv-worker: the process a pool's plugin runs in. Started by the supervisor
// with the channel at fds 3 (request, read-only) and 4 (response); see
// docs/plugins.md. Exit codes: 0 graceful stop, 100 permanent failure (bad
// arguments, plugin cannot load or init refuses), 111 temporary failure.
#include <csignal>
#include <cstdio>
#include <string>

#include "ipc/layout.h"
#include "ipc/worker_channel.h"
#include "stop/signal_safe_stop_source.h"
#include "worker/options.h"
#include "worker/plugin_host.h"
#include "worker/sandbox.h"

namespace {

using namespace sv;
using namespace sv::worker;

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

// SIGTERM asks for a graceful stop, like the channel's stop request.
Status InstallStopHandler(stop::SignalSafeStopSource& source) {
  g_stop = &source;
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, nullptr) != 0) return FailErrno("sigaction SIGTERM", errno);
  return {};
}

int Serve(const Options& options, ipc::WorkerChannel& channel, const std::stop_token& token) {
  auto host = PluginHost::Load(options);
  if (!host) {
    channel.ReportInitFailed(SV_INIT_FATAL, host.error().message());
    return Die(&options, kExitPermanent, host.error());
  }
  if (auto init = (*host)->Init(); !init) {
    channel.ReportInitFailed(init.error().code, init.error().message);
    return Die(&options, init.error().permanent ? kExitPermanent : kExitTemporary,
               Error(ErrorCode::kPluginError, "plugin init failed: " + init.error().message));
  }
  channel.ReportReady();
  for (;;) {
    auto request = channel.Next(token);
    if (!request) {
      if (request.error().stopped()) break;
      return Die(&options, kExitTemporary, request.error());
    }
    if (request->kind == ipc::RequestKind::kStop) break;
    (*host)->Serve(*request, channel);
  }
  (*host)->Shutdown();
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = ParseOptions(argc, argv);
  if (!options) return Die(nullptr, kExitPermanent, options.error());
  if (Status s = PrepareProcess(*options); !s) return Die(&*options, kExitTemporary, s.error());
  auto source = stop::SignalSafeStopSource::Create();
  if (!source) return Die(&*options, kExitTemporary, source.error());
  if (Status s = InstallStopHandler(**source); !s) return Die(&*options, kExitTemporary, s.error());
  auto channel = ipc::WorkerChannel::Attach(ipc::kRequestFd, ipc::kResponseFd, options->spin);
  if (!channel) return Die(&*options, kExitTemporary, channel.error());
  return Serve(*options, **channel, (*source)->get_token());
}
