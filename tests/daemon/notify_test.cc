#include "daemon/notify.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "base/unique_fd.h"

namespace sv::daemon {
namespace {

// A datagram socket standing in for systemd's, bound at `name` ('@': abstract).
UniqueFd Listen(const std::string& name) {
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, name.data(), name.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (name[0] == '@') {
    address.sun_path[0] = '\0';
  } else {
    ++length;
  }
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length), 0) << std::strerror(errno);
  return fd;
}

std::string Receive(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return "(nothing within 5 s)";
  char buffer[1024];
  const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "(recv failed)";
}

TEST(Notifier, SendsEachStateAsOneDatagram) {
  const std::string path = "/tmp/sv-notify-test-" + std::to_string(getpid());
  std::filesystem::remove(path);
  UniqueFd listener = Listen(path);
  Notifier notifier(path);
  ASSERT_TRUE(notifier.enabled());
  ASSERT_TRUE(notifier.Ready("2 pools"));
  EXPECT_EQ(Receive(listener.get()), "READY=1\nSTATUS=2 pools");
  ASSERT_TRUE(notifier.Reloading());
  const std::string reloading = Receive(listener.get());
  EXPECT_TRUE(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << reloading;
  ASSERT_TRUE(notifier.Stopping());
  EXPECT_TRUE(Receive(listener.get()).starts_with("STOPPING=1"));
  std::filesystem::remove(path);
}

TEST(Notifier, ReachesAnAbstractSocket) {
  const std::string name = "@sv-notify-test-" + std::to_string(getpid());
  UniqueFd listener = Listen(name);
  ASSERT_TRUE(Notifier(name).Watchdog());
  EXPECT_EQ(Receive(listener.get()), "WATCHDOG=1");
}

TEST(Notifier, WithoutASocketDoesNothingAndHasNoWatchdog) {
  Notifier notifier("", std::chrono::microseconds(1000));
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.watchdog());
  EXPECT_TRUE(notifier.Ready("x"));
}

TEST(Notifier, ASocketNobodyListensOnIsAnError) {
  auto sent = Notifier("/tmp/sv-no-such-notify-socket").Ready("x");
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message().find("NOTIFY_SOCKET"), std::string::npos);
}

}  // namespace
}  // namespace sv::daemon
