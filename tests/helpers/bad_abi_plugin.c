/* A plugin built for an ABI version sv-worker does not speak: it must refuse
 * to load it (exit 100). Runs in sv-worker, briefly. */
#include "sv/plugin.h"

static int Call(void* state, const sv_call_info* info, const char* method, size_t method_size, const void* input,
                size_t input_size, sv_output* out, sv_error* err) {
  (void)state, (void)info, (void)method, (void)method_size, (void)input, (void)input_size, (void)out, (void)err;
  return SV_OK;
}

static const sv_plugin kPlugin = {SV_PLUGIN_ABI_VERSION + 1000u, sizeof(sv_plugin), "bad_abi", 0, Call, 0};

SV_PLUGIN_EXPORT const sv_plugin* sv_plugin_entry(void) { return &kPlugin; }
