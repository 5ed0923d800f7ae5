// A C++ helper over plugin.h: a plugin registers methods by name and returns
// Status values; exceptions never cross the C ABI. Header-only, C++17.
//
//   #include "sv/plugin.hpp"
//   SV_PLUGIN("echo", [](const sv::plugin::Config&, sv::plugin::Registry& r) {
//     r.Method("echo", [](const sv::plugin::Call& call, sv::plugin::Output& out) {
//       return out.Write(call.input);
//     });
//     return sv::plugin::Status::Ok();
//   });
#ifndef SV_PLUGIN_HPP_
#define SV_PLUGIN_HPP_

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "sv/plugin.h"

namespace sv::plugin {

// Success, or the plugin's own error code (nonzero) and a message.
class Status {
 public:
  static Status Ok() { return Status(); }
  static Status Error(std::int32_t code, std::string message) { return Status(code, std::move(message)); }
  // From setup only: a temporary failure; sv-worker exits 111 so the
  // supervisor may retry (any other error from setup exits 100).
  static Status Retry(std::string message) { return Status(kRetry, std::move(message)); }
  static constexpr std::int32_t kRetry = -1001;
  bool ok() const { return code_ == SV_OK; }
  std::int32_t code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status() = default;
  Status(std::int32_t code, std::string message) : code_(code == SV_OK ? -1000 : code), message_(std::move(message)) {}
  std::int32_t code_ = SV_OK;
  std::string message_;
};

// The response being built, in shared memory.
class Output {
 public:
  explicit Output(sv_output* out) : out_(out) {}
  // Appends bytes; an error once they exceed the response capacity.
  Status Write(std::string_view bytes) {
    if (out_->write(out_, bytes.data(), bytes.size()) == 0) return Status::Ok();
    return Status::Error(SV_ERR_TOO_LARGE, "response too large");
  }
  // In-place writing: the free rest of the area, then Advance by what was used.
  char* Tail(std::size_t* room) { return static_cast<char*>(out_->tail(out_, room)); }
  bool Advance(std::size_t size) { return out_->advance(out_, size) == 0; }

 private:
  sv_output* out_;
};

// The pool's plugin_config.
class Config {
 public:
  Config(const sv_config_entry* entries, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) values_[entries[i].key] = entries[i].value;
  }
  bool Has(const std::string& key) const { return values_.count(key) != 0; }
  std::string Get(const std::string& key, std::string fallback = {}) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

struct Call {
  const sv_call_info* info;
  std::string_view method;
  std::string_view input;
};

using Handler = std::function<Status(const Call&, Output&)>;

class Registry {
 public:
  void Method(std::string name, Handler handler) { methods_[std::move(name)] = std::move(handler); }
  // Runs once on a graceful stop.
  void OnShutdown(std::function<void()> fn) { shutdown_ = std::move(fn); }

 private:
  friend struct Glue;
  std::map<std::string, Handler, std::less<>> methods_;
  std::function<void()> shutdown_;
};

using Setup = std::function<Status(const Config&, Registry&)>;

// The C entry points. Hidden, so that two plugins built with this header and
// loaded into one process keep their own registries.
struct __attribute__((visibility("hidden"))) Glue {
  static Registry& registry() {
    static Registry r;
    return r;
  }
  static Setup& setup() {
    static Setup s;
    return s;
  }
  // Allocation-free: also used when memory ran out.
  static void Fill(sv_error* err, std::int32_t code, const char* prefix, const char* message) {
    err->code = code;
    std::snprintf(err->message, sizeof err->message, "%s%s", prefix, message);
  }
  template <class Fn>
  static int Guard(sv_error* err, Fn&& fn) noexcept {
    try {
      Status s = fn();
      if (!s.ok()) Fill(err, s.code(), "", s.message().c_str());
      return s.code();
    } catch (const std::bad_alloc&) {
      Fill(err, SV_ERR_OUT_OF_MEMORY, "", "out of memory");
      return SV_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
      Fill(err, SV_ERR_EXCEPTION, "exception: ", e.what());
      return SV_ERR_EXCEPTION;
    } catch (...) {
      Fill(err, SV_ERR_EXCEPTION, "", "unknown exception");
      return SV_ERR_EXCEPTION;
    }
  }
  static int Init(const sv_config_entry* config, std::size_t count, void** state, sv_error* err) {
    *state = nullptr;
    int rc = Guard(err, [&] { return setup()(Config(config, count), registry()); });
    if (rc == SV_OK) return SV_OK;
    return rc == Status::kRetry ? SV_INIT_RETRY : SV_INIT_FATAL;
  }
  static int CallMethod(void*, const sv_call_info* info, const char* method, std::size_t method_size,
                        const void* input, std::size_t input_size, sv_output* out, sv_error* err) {
    return Guard(err, [&] {
      std::string_view name(method, method_size);
      auto it = registry().methods_.find(name);
      if (it == registry().methods_.end()) {
        return Status::Error(SV_ERR_NO_METHOD, "no method \"" + std::string(name) + "\"");
      }
      Call call{info, name, std::string_view(static_cast<const char*>(input), input_size)};
      Output output(out);
      return it->second(call, output);
    });
  }
  static void Shutdown(void*) {
    sv_error ignored{};
    Guard(&ignored, [] {
      if (registry().shutdown_) registry().shutdown_();
      return Status::Ok();
    });
  }
  static const sv_plugin* Entry(const char* name, Setup fn) {
    setup() = std::move(fn);
    static const sv_plugin plugin = {SV_PLUGIN_ABI_VERSION, sizeof(sv_plugin), name, &Init, &CallMethod, &Shutdown};
    return &plugin;
  }
};

}  // namespace sv::plugin

// Defines the plugin's entry symbol. `setup` is callable as
// Status(const Config&, Registry&) and registers the methods.
#define SV_PLUGIN(plugin_name, setup)                                    \
  extern "C" SV_PLUGIN_EXPORT const sv_plugin* sv_plugin_entry(void) {   \
    return ::sv::plugin::Glue::Entry(plugin_name, setup);                \
  }

#endif  // SV_PLUGIN_HPP_
