// A plugin that starts a thread as soon as it is loaded (a static
// constructor), before init: a zygote must not fork such a plugin. Runs in
// sv-worker (and briefly in a zygote, which refuses it).
#include <chrono>
#include <thread>

#include "sv/plugin.hpp"

namespace {

struct Background {
  Background() {
    std::thread([] {
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }).detach();
  }
} background;

}  // namespace

SV_PLUGIN("threads_at_load", [](const sv::plugin::Config&, sv::plugin::Registry& methods) {
  methods.Method("echo", [](const sv::plugin::Call& call, sv::plugin::Output& out) { return out.Write(call.input); });
  return sv::plugin::Status::Ok();
});
