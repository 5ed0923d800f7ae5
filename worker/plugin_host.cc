#include "worker/plugin_host.h"

#include <dlfcn.h>

#include <cstddef>
#include <cstring>
#include <vector>

namespace sv::worker {
namespace {

// sv_output over the channel's response area. Output past kStreamStep bytes
// is reported to the caller as it grows (WorkerChannel::Stream), so the caller
// copies it out while the plugin writes the rest.
struct OutputBuffer {
  sv_output c;
  ipc::WorkerChannel* channel;
  std::byte* base;
  std::size_t capacity;
  std::size_t used = 0;
  std::size_t reported = 0;  // bytes last reported ready
  bool too_large = false;

  static OutputBuffer* Of(sv_output* out) { return static_cast<OutputBuffer*>(out->impl); }

  // Reports the output so far once kStreamStep bytes went unreported.
  void Report(std::size_t announced) {
    if (used - reported < ipc::kStreamStep) return;
    channel->Stream(used, announced);
    reported = used;
  }

  static int Write(sv_output* out, const void* data, std::size_t size) {
    OutputBuffer* self = Of(out);
    if (size > self->capacity - self->used) {
      self->too_large = true;
      return -1;
    }
    // A large write goes in steps, each reported while the next is copied.
    const auto* from = static_cast<const std::byte*>(data);
    const std::size_t end = self->used + size;
    while (end - self->used > ipc::kStreamStep) {
      std::memcpy(self->base + self->used, from, ipc::kStreamStep);
      from += ipc::kStreamStep;
      self->used += ipc::kStreamStep;
      self->Report(end);
    }
    if (end != self->used) std::memcpy(self->base + self->used, from, end - self->used);
    self->used = end;
    self->Report(end);
    return 0;
  }
  static void* Tail(sv_output* out, std::size_t* room) {
    OutputBuffer* self = Of(out);
    *room = self->capacity - self->used;
    return self->base + self->used;
  }
  static int Advance(sv_output* out, std::size_t size) {
    OutputBuffer* self = Of(out);
    if (size > self->capacity - self->used) {
      self->too_large = true;
      return -1;
    }
    self->used += size;
    self->Report(self->used);
    return 0;
  }
};

// sv_plugin as ABI version 1 defined it; newer plugins may be larger.
constexpr std::size_t kPluginV1Size = offsetof(sv_plugin, shutdown) + sizeof(sv_plugin::shutdown);
static_assert(kPluginV1Size == sizeof(sv_plugin), "grow sv_plugin only at the end, and keep this size");

std::unexpected<Error> LoadError(const std::string& path, const std::string& what) {
  return Fail(ErrorCode::kInvalidArgument, "plugin " + path + ": " + what);
}

}  // namespace

std::expected<std::unique_ptr<PluginHost>, Error> PluginHost::Load(const Options& options) {
  void* handle = dlopen(options.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return LoadError(options.plugin, why != nullptr ? why : "dlopen failed");
  }
  auto entry = reinterpret_cast<sv_plugin_entry_fn>(dlsym(handle, SV_PLUGIN_ENTRY_SYMBOL));
  const sv_plugin* plugin = entry != nullptr ? entry() : nullptr;
  std::string problem;
  if (entry == nullptr) {
    problem = "no " SV_PLUGIN_ENTRY_SYMBOL " symbol (is it an sv plugin?)";
  } else if (plugin == nullptr) {
    problem = SV_PLUGIN_ENTRY_SYMBOL "() returned NULL";
  } else if (plugin->abi_version != SV_PLUGIN_ABI_VERSION) {
    problem = "built for plugin ABI " + std::to_string(plugin->abi_version) + ", this sv-worker speaks " +
              std::to_string(SV_PLUGIN_ABI_VERSION);
  } else if (plugin->struct_size < kPluginV1Size || plugin->call == nullptr) {
    problem = "malformed sv_plugin (size or call missing)";
  }
  if (!problem.empty()) {
    dlclose(handle);
    return LoadError(options.plugin, problem);
  }
  return std::unique_ptr<PluginHost>(new PluginHost(handle, plugin, options));
}

// The plugin is never dlclose()d: its threads or atexit handlers may still
// point into it, and the process is about to exit anyway.
PluginHost::~PluginHost() = default;

std::expected<void, PluginHost::InitFailure> PluginHost::Init() {
  if (plugin_->init == nullptr) return {};
  std::vector<sv_config_entry> entries;
  entries.reserve(options_.config.size());
  for (const auto& [key, value] : options_.config) entries.push_back({key.c_str(), value.c_str()});
  sv_error err{};
  int rc = plugin_->init(entries.data(), entries.size(), &state_, &err);
  if (rc == SV_OK) return {};
  err.message[sizeof err.message - 1] = '\0';
  return std::unexpected(InitFailure{err.code != 0 ? err.code : rc, err.message, rc != SV_INIT_RETRY});
}

void PluginHost::Serve(const ipc::Request& request, ipc::WorkerChannel& channel) {
  std::span<std::byte> area = channel.OutputArea();
  OutputBuffer out{{&OutputBuffer::Write, &OutputBuffer::Tail, &OutputBuffer::Advance, nullptr},
                   &channel, area.data(), area.size()};
  out.c.impl = &out;
  sv_call_info info{sizeof(sv_call_info), options_.index, request.call_id, request.deadline.MonotonicNanos(),
                    options_.pool.c_str()};
  sv_error err;  // not zero-filled: 1 KiB per call
  err.code = 0;
  err.message[0] = '\0';
  int rc = plugin_->call(state_, &info, request.method.data(), request.method.size(), request.input.data(),
                         request.input.size(), &out.c, &err);
  err.message[sizeof err.message - 1] = '\0';
  if (out.too_large) {
    channel.ReplyError(ipc::ResponseStatus::kOutputTooLarge, 0, "response too large");
  } else if (rc == SV_OK) {
    channel.ReplyOk(out.used);
  } else if (rc == SV_ERR_OUT_OF_MEMORY) {
    std::string what = "out of memory";
    if (options_.limits.address_space) what += " (address-space limit " + std::to_string(*options_.limits.address_space) + " bytes)";
    channel.ReplyError(ipc::ResponseStatus::kResourceLimit, rc, what + ": " + err.message);
  } else {
    channel.ReplyError(ipc::ResponseStatus::kPluginError, err.code != 0 ? err.code : rc, err.message);
  }
}

void PluginHost::Shutdown() {
  if (plugin_->shutdown != nullptr) plugin_->shutdown(state_);
}

}  // namespace sv::worker
