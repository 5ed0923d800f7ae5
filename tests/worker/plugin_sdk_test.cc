// The C++ plugin helper (plugin.hpp): plugins built with it keep their own
// state even when loaded into one process. Loads real plugin .so files.
#include <dlfcn.h>

#include <gtest/gtest.h>

#include <string>

#include "sv/plugin.h"
#include "tests/helpers/worker_process.h"

namespace sv::testing {
namespace {

const sv_plugin* LoadEntry(const std::string& name) {
  void* handle = dlopen(PluginPath(name).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return nullptr;
  auto entry = reinterpret_cast<sv_plugin_entry_fn>(dlsym(handle, SV_PLUGIN_ENTRY_SYMBOL));
  return entry != nullptr ? entry() : nullptr;  // never dlclosed: the process ends soon
}

TEST(PluginSdkTest, TwoHelperPluginsInOneProcessKeepTheirOwnEntry) {
  // misbehave exports every symbol; echo hides them: the helper's own state
  // must stay private either way.
  const sv_plugin* misbehave = LoadEntry("misbehave");
  const sv_plugin* echo = LoadEntry("echo");
  ASSERT_NE(misbehave, nullptr) << dlerror();
  ASSERT_NE(echo, nullptr) << dlerror();
  EXPECT_STREQ(misbehave->name, "misbehave");
  EXPECT_STREQ(echo->name, "echo");
  EXPECT_NE(misbehave, echo);
  EXPECT_EQ(echo->abi_version, SV_PLUGIN_ABI_VERSION);
}

}  // namespace
}  // namespace sv::testing
