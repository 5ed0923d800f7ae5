/* The plugin ABI of sv-worker: plain C, so a plugin built by any C or C++
 * compiler loads. A plugin is a shared object exporting sv_plugin_entry(),
 * which returns a static sv_plugin. sv-worker calls init once, then call for
 * each request, one at a time on one thread, then shutdown on a graceful stop.
 * See docs/plugins.md; plugin.hpp is a C++ helper on top of this. */
#ifndef SV_PLUGIN_H_
#define SV_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change; sv-worker refuses (exit 100) a plugin
 * built against another version. */
#define SV_PLUGIN_ABI_VERSION 1u

/* Return values of init and call. Any other nonzero value from call is the
 * plugin's own error code, passed to the caller with the message. */
#define SV_OK 0
#define SV_ERR_NO_METHOD (-1)      /* no such method */
#define SV_ERR_OUT_OF_MEMORY (-2)  /* reported to the caller as ResourceLimit */
#define SV_ERR_EXCEPTION (-3)      /* a C++ exception reached the ABI (plugin.hpp) */
#define SV_ERR_TOO_LARGE (-4)      /* the response did not fit (the caller sees PayloadTooLarge) */
#define SV_INIT_RETRY 1            /* init: temporary failure, sv-worker exits 111 */
#define SV_INIT_FATAL 2            /* init: permanent failure, sv-worker exits 100 */

/* Where a call writes its response: straight into shared memory. */
typedef struct sv_output sv_output;
struct sv_output {
  /* Appends size bytes. Returns 0, or -1 when they do not fit the response
   * capacity; the call then fails with PayloadTooLarge whatever it returns. */
  int (*write)(sv_output* out, const void* data, size_t size);
  /* The unwritten rest of the response area, for writing in place; *room is
   * set to how many bytes it holds. */
  void* (*tail)(sv_output* out, size_t* room);
  /* Marks size bytes at tail() as written. Returns -1 (and marks the output
   * too large) when size exceeds the room. */
  int (*advance)(sv_output* out, size_t size);
  void* impl; /* sv-worker's */
};

/* An error a plugin reports: its own code and a message (NUL-terminated, cut
 * at the buffer's end). */
typedef struct sv_error {
  int32_t code;
  char message[1024];
} sv_error;

/* One key/value of the pool's plugin_config. */
typedef struct sv_config_entry {
  const char* key;
  const char* value;
} sv_config_entry;

/* What a call knows besides its input. Later ABI versions may append fields;
 * read one only if struct_size covers it. */
typedef struct sv_call_info {
  uint32_t struct_size; /* sizeof(sv_call_info) of the sv-worker that filled it */
  uint32_t worker_index;
  uint64_t call_id;
  /* CLOCK_MONOTONIC nanoseconds when the caller stops waiting (INT64_MAX: no
   * deadline). A cooperative plugin may give up by then; the supervisor kills
   * the worker anyway once it passes. */
  int64_t deadline_ns;
  const char* pool; /* the pool's name */
} sv_call_info;

/* Later ABI versions may append optional fields; sv-worker reads only those
 * struct_size covers, and accepts any struct_size of at least version 1's. */
typedef struct sv_plugin {
  uint32_t abi_version; /* SV_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(sv_plugin) */
  const char* name;
  /* Called once before any call. Sets *state for the calls. Returns SV_OK,
   * SV_INIT_RETRY or SV_INIT_FATAL, with err filled on failure. May be NULL. */
  int (*init)(const sv_config_entry* config, size_t config_count, void** state, sv_error* err);
  /* Runs one method. Returns SV_OK, or an error code with err->message set. */
  int (*call)(void* state, const sv_call_info* info, const char* method, size_t method_size, const void* input,
              size_t input_size, sv_output* out, sv_error* err);
  /* Called once on a graceful stop. May be NULL. */
  void (*shutdown)(void* state);
} sv_plugin;

/* The symbol sv-worker looks up. */
#define SV_PLUGIN_ENTRY_SYMBOL "sv_plugin_entry"
typedef const sv_plugin* (*sv_plugin_entry_fn)(void);

#if defined(__GNUC__)
#define SV_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SV_PLUGIN_EXPORT
#endif

#ifdef __cplusplus
}
#endif

#endif /* SV_PLUGIN_H_ */
