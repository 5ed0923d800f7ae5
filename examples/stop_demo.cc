// The reference article's UDP receive loop, stopped cleanly under each strategy
// of the stop library: a thread blocks in recv() on a loopback socket, the main
// thread requests a stop, and the thread returns normally, running destructors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "base/unique_fd.h"
#include "stop/calls.h"
#include "stop/strategy.h"

namespace {

using Clock = std::chrono::steady_clock;
using sv::stop::Strategy;

sv::UniqueFd BoundUdpSocket(sockaddr_in& addr) {
  sv::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("udp socket");
    std::exit(1);
  }
  return fd;
}

// Stamps the moment the receive loop's scope is left: proof that it unwound normally.
struct ExitStamp {
  std::promise<Clock::time_point>* done;
  ~ExitStamp() { done->set_value(Clock::now()); }
};

struct Outcome {
  int received = 0;
  std::string how;
};

Outcome ReceiveLoop(std::stop_token token, int fd, std::promise<Clock::time_point>* done,
                    std::promise<void>* got_all, int expected) {
  ExitStamp stamp{done};
  Outcome out;
  std::byte buf[1500];
  for (;;) {
    auto n = sv::stop::Recv(token, fd, buf);
    if (!n) {
      out.how = n.error().ToString();
      return out;
    }
    if (++out.received == expected) got_all->set_value();
  }
}

bool RunOnce(Strategy strategy) {
  if (auto ok = sv::stop::SetStrategy(strategy); !ok) {
    std::printf("  %-10s skipped: %s\n", std::string(sv::stop::StrategyName(strategy)).c_str(),
                ok.error().ToString().c_str());
    return true;
  }
  sockaddr_in addr;
  sv::UniqueFd fd = BoundUdpSocket(addr);
  std::promise<Clock::time_point> done;
  std::promise<void> got_all;
  constexpr int kDatagrams = 3;
  std::packaged_task<Outcome(std::stop_token)> task([&](std::stop_token t) {
    return ReceiveLoop(t, fd.get(), &done, &got_all, kDatagrams);
  });
  auto outcome = task.get_future();
  std::jthread receiver(std::move(task));

  sv::UniqueFd tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  for (int i = 0; i < kDatagrams; ++i) {
    ::sendto(tx.get(), "hello", 5, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  if (got_all.get_future().wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    std::printf("datagrams did not arrive\n");
    return false;
  }
  // Give the receiver time to block in recv again: this demo stops a blocked thread.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto requested = Clock::now();
  receiver.request_stop();
  auto exited = done.get_future();
  if (exited.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    std::printf("  %-10s MISSED the stop\n", std::string(sv::stop::StrategyName(strategy)).c_str());
    return false;
  }
  double us = std::chrono::duration<double, std::micro>(exited.get() - requested).count();
  Outcome o = outcome.get();
  std::printf("  %-10s received %d datagrams, then stopped while blocked in recv: loop exited "
              "in %7.1f us, destructors ran (%s)\n",
              std::string(sv::stop::StrategyName(strategy)).c_str(), o.received, us, o.how.c_str());
  return true;
}

}  // namespace

int main() {
  auto active = sv::stop::Init();
  if (!active) {
    std::fprintf(stderr, "stop library: %s\n", active.error().ToString().c_str());
    return 100;
  }
  std::printf("Stopping a thread blocked in recv() on a UDP socket (wake-up signal %d).\n",
              sv::stop::WakeSignal());
  std::printf("Best strategy on this machine: %s\n\n",
              std::string(sv::stop::StrategyName(*active)).c_str());
  bool ok = true;
  for (Strategy s : {Strategy::kRseq, Strategy::kSignalPc, Strategy::kSigmask, Strategy::kEventFd}) {
    ok &= RunOnce(s);
  }
  std::printf("\nRace-freedom under load: ./run bench   (see docs/stop.md)\n");
  return ok ? 0 : 1;
}
