// ctl/check_config.h: a good config is "ok"; a wrong one lists each problem
// at its line, including a plugin a real sv-worker cannot load.
#include "ctl/check_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ctl/commands.h"

namespace sv::ctl {
namespace {

class CheckConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/sv_ctl_check_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& text) {
    const std::string path = (dir_ / "pools.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  int Check(const std::string& file, bool json = false) {
    out_.str("");
    err_.str("");
    return CheckConfig(file, SV_WORKER_PATH, json, out_, err_);
  }

  std::filesystem::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(CheckConfigTest, LoadablePluginIsOk) {
  const std::string file = Write("pools:\n  echo:\n    plugin: " SV_ECHO_PLUGIN "\n");
  EXPECT_EQ(Check(file), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), file + ": ok\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CheckConfigTest, PluginThatIsNotASharedObjectIsAProblemAtItsLine) {
  std::ofstream(dir_ / "libfake.so") << "not an ELF file\n";
  const std::string file = Write("pools:\n  fake:\n    plugin: libfake.so\n");
  EXPECT_EQ(Check(file), kExitFailed);
  EXPECT_EQ(out_.str(), "");
  EXPECT_TRUE(err_.str().starts_with(file + ":3:13: pools.fake.plugin: ")) << err_.str();
}

TEST_F(CheckConfigTest, ListsEveryProblem) {
  const std::string file = Write("pools:\n  a:\n    plugin: nope.so\n    workrs: 2\n");
  EXPECT_EQ(Check(file), kExitFailed);
  EXPECT_NE(err_.str().find(":3:13: pools.a.plugin: no such file"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find(":4:5: pools.a.workrs: unknown key"), std::string::npos) << err_.str();
}

TEST_F(CheckConfigTest, JsonListsProblemsWithPositions) {
  const std::string file = Write("pools:\n  a:\n    plugin: " SV_ECHO_PLUGIN "\n    workers: two\n");
  EXPECT_EQ(Check(file, true), kExitFailed);
  EXPECT_EQ(out_.str(), "{\"file\": \"" + file + "\", \"ok\": false, \"problems\": [{\"file\": \"" + file +
                            "\", \"line\": 4, \"column\": 5, \"key\": \"pools.a.workers\", \"message\": "
                            "\"expected a positive integer, got \\\"two\\\"\"}]}\n");
}

TEST_F(CheckConfigTest, MissingFileIsAProblem) {
  EXPECT_EQ(Check((dir_ / "none.yaml").string()), kExitFailed);
  EXPECT_NE(err_.str().find("none.yaml: cannot read: No such file or directory"), std::string::npos);
}

}  // namespace
}  // namespace sv::ctl
