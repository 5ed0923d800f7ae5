// ctl/discovery.h: which source names the socket, in order -s, -c,
// $SUPERVISOR_SOCKET, $SUPERVISOR_CONFIG, ./pools.yaml; with real config files
// in a temporary folder.
#include "ctl/discovery.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace sv::ctl {
namespace {

class FindSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/sv_ctl_discovery_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A config whose control_socket is `socket`, at dir_/name.
  std::string WriteConfig(const std::string& name, const std::string& socket) {
    std::filesystem::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << "supervisor:\n  control_socket: " << socket << "\npools: {}\n";
    return (dir_ / name).string();
  }

  std::filesystem::path dir_;
};

TEST_F(FindSocketTest, SocketFlagWinsOverEverything) {
  const std::string config = WriteConfig("a/pools.yaml", "a.sock");
  WriteConfig("pools.yaml", "local.sock");
  auto found = FindSocket({.socket_flag = "/x.sock", .config_flag = config, .socket_env = "/env.sock",
                           .config_env = config, .working_dir = dir_});
  ASSERT_TRUE(found) << found.error();
  EXPECT_EQ(found->socket, "/x.sock");
  EXPECT_EQ(found->config, "");
}

TEST_F(FindSocketTest, ConfigFlagResolvesRelativeSocketAgainstItsFolder) {
  const std::string config = WriteConfig("a/pools.yaml", "run/a.sock");
  auto found = FindSocket({.config_flag = config, .socket_env = "/env.sock", .working_dir = dir_});
  ASSERT_TRUE(found) << found.error();
  EXPECT_EQ(found->socket, (dir_ / "a/run/a.sock").string());
  EXPECT_EQ(found->config, config);
}

TEST_F(FindSocketTest, SocketEnvBeforeConfigEnv) {
  const std::string config = WriteConfig("b/pools.yaml", "/b.sock");
  EXPECT_EQ(FindSocket({.socket_env = "/env.sock", .config_env = config, .working_dir = dir_})->socket, "/env.sock");
  EXPECT_EQ(FindSocket({.config_env = config, .working_dir = dir_})->socket, "/b.sock");
}

TEST_F(FindSocketTest, EmptyEnvironmentValuesCountAsUnset) {
  const std::string config = WriteConfig("b/pools.yaml", "/b.sock");
  EXPECT_EQ(FindSocket({.socket_env = "", .config_env = config, .working_dir = dir_})->socket, "/b.sock");
}

TEST_F(FindSocketTest, PoolsYamlInWorkingDirIsTheLastResort) {
  WriteConfig("pools.yaml", "local.sock");
  auto found = FindSocket({.working_dir = dir_});
  ASSERT_TRUE(found) << found.error();
  EXPECT_EQ(found->socket, (dir_ / "local.sock").string());
}

TEST_F(FindSocketTest, NoSourceIsAnErrorSayingWhatToPass) {
  auto found = FindSocket({.working_dir = dir_});
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().find("pass -s SOCKET or -c pools.yaml"), std::string::npos) << found.error();
}

TEST_F(FindSocketTest, BrokenConfigIsAnErrorListingItsProblems) {
  std::ofstream(dir_ / "pools.yaml") << "supervisor:\n  control_sockett: x\npools: {}\n";
  auto found = FindSocket({.working_dir = dir_});
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().find("pools.yaml:2:3: supervisor.control_sockett: unknown key"), std::string::npos)
      << found.error();
  EXPECT_NE(found.error().find("-s PATH"), std::string::npos);
}

TEST_F(FindSocketTest, WrongConfigStillYieldsAPlainlyWrittenSocket) {
  std::ofstream(dir_ / "pools.yaml") << "# a comment\nsupervisor:\n  log_level: info\n  control_socket: \"run/s.sock\"  # here\n"
                                     << "pools:\n  a:\n    workers: two\n";
  auto found = FindSocket({.working_dir = dir_});
  ASSERT_TRUE(found) << found.error();
  EXPECT_EQ(found->socket, (dir_ / "run/s.sock").string());
  std::ofstream(dir_ / "abs.yaml") << "supervisor:\n  control_socket: /x/s.sock\npools:\n  a: 1\n";
  EXPECT_EQ(FindSocket({.config_flag = (dir_ / "abs.yaml").string()})->socket, "/x/s.sock");
}

TEST_F(FindSocketTest, MissingConfigFileNamesIt) {
  auto found = FindSocket({.config_flag = (dir_ / "nope.yaml").string(), .working_dir = dir_});
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().find("nope.yaml: cannot read: No such file or directory"), std::string::npos)
      << found.error();
}

TEST(SourcesFromEnvironmentTest, ReadsTheEnvironment) {
  setenv("SUPERVISOR_SOCKET", "/s.sock", 1);
  setenv("SUPERVISOR_CONFIG", "", 1);
  SocketSources sources = SourcesFromEnvironment(std::nullopt, "c.yaml");
  EXPECT_EQ(sources.socket_env, "/s.sock");
  EXPECT_EQ(sources.config_env, std::nullopt);
  EXPECT_EQ(sources.config_flag, "c.yaml");
  EXPECT_EQ(sources.working_dir, std::filesystem::current_path());
  unsetenv("SUPERVISOR_SOCKET");
  unsetenv("SUPERVISOR_CONFIG");
}

}  // namespace
}  // namespace sv::ctl
