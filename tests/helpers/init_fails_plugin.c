/* A plugin whose init fails: temporarily when its config says "retry",
 * permanently otherwise. Runs in sv-worker, briefly. */
#include <stdio.h>
#include <string.h>

#include "sv/plugin.h"

static int Init(const sv_config_entry* config, size_t count, void** state, sv_error* err) {
  (void)state;
  int retry = count > 0 && strcmp(config[0].key, "mode") == 0 && strcmp(config[0].value, "retry") == 0;
  err->code = 77;
  snprintf(err->message, sizeof err->message, "cannot reach the database");
  return retry ? SV_INIT_RETRY : SV_INIT_FATAL;
}

static int Call(void* state, const sv_call_info* info, const char* method, size_t method_size, const void* input,
                size_t input_size, sv_output* out, sv_error* err) {
  (void)state, (void)info, (void)method, (void)method_size, (void)input, (void)input_size, (void)out, (void)err;
  return SV_OK;
}

static const sv_plugin kPlugin = {SV_PLUGIN_ABI_VERSION, sizeof(sv_plugin), "init_fails", Init, Call, 0};

SV_PLUGIN_EXPORT const sv_plugin* sv_plugin_entry(void) { return &kPlugin; }
