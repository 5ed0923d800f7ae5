// The echo plugin: returns its input. What benchmarks call to measure the
// channel itself. Runs in sv-worker.
#include "sv/plugin.hpp"

SV_PLUGIN("echo", [](const sv::plugin::Config&, sv::plugin::Registry& methods) {
  methods.Method("echo", [](const sv::plugin::Call& call, sv::plugin::Output& out) {
    return out.Write(call.input);
  });
  return sv::plugin::Status::Ok();
});
