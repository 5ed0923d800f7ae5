// Loads a plugin into sv-worker and runs its calls against the channel. Runs
// in the worker process; from Load() on, the process runs foreign code.
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "base/error.h"
#include "ipc/worker_channel.h"
#include "sv/plugin.h"
#include "worker/options.h"

namespace sv::worker {

class PluginHost {
 public:
  // dlopen(RTLD_NOW | RTLD_LOCAL) the plugin and check its ABI version.
  // kInvalidArgument (exit 100 material) naming the path and what is wrong.
  [[nodiscard]] static std::expected<std::unique_ptr<PluginHost>, Error> Load(const Options& options);
  ~PluginHost();

  // Calls the plugin's init with the pool's plugin_config. On failure returns
  // the plugin's code and message, and whether the failure is permanent.
  struct InitFailure {
    std::int32_t code;
    std::string message;
    bool permanent;
  };
  [[nodiscard]] std::expected<void, InitFailure> Init();

  // Runs one call and replies on `channel`: kOk with the output, or the
  // plugin's error, kOutputTooLarge, or kResourceLimit (out of memory).
  void Serve(const ipc::Request& request, ipc::WorkerChannel& channel);

  void Shutdown();

 private:
  PluginHost(void* handle, const sv_plugin* plugin, const Options& options)
      : handle_(handle), plugin_(plugin), options_(options) {}
  void* handle_;
  const sv_plugin* plugin_;
  const Options& options_;
  void* state_ = nullptr;
};

}  // namespace sv::worker
