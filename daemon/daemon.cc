#include "daemon/daemon.h"

#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FileChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/PatternFormatter.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "config/load.h"
#include "daemon/api.h"
#include "daemon/controller.h"
#include "daemon/http.h"
#include "daemon/notify.h"
#include "supervisor/probe.h"

namespace sv::daemon {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMinBody = 64 << 10;
constexpr std::size_t kMaxBody = 256 << 20;

Poco::Logger& Log() { return Poco::Logger::get("supervisor"); }

void SetUpLogging(const config::SupervisorSettings& settings) {
  Poco::AutoPtr<Poco::Channel> sink;
  if (settings.log_file) {
    Poco::AutoPtr<Poco::FileChannel> file(new Poco::FileChannel(settings.log_file->string()));
    file->setProperty("rotation", "10 M");
    file->setProperty("archive", "number");
    file->setProperty("purgeCount", "5");
    file->setProperty("flush", "false");
    sink = file;
  } else {
    sink = new Poco::ConsoleChannel(std::cerr);
  }
  Poco::AutoPtr<Poco::PatternFormatter> format(new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i %q %s: %t"));
  format->setProperty("times", "local");
  Poco::AutoPtr<Poco::FormattingChannel> channel(new Poco::FormattingChannel(format, sink));
  Poco::Logger::root().setChannel(channel);
  // Poco's priorities run from 1 (fatal) to 8 (trace); ours from trace (0) up.
  const int level = 8 - static_cast<int>(settings.log_level);
  Poco::Logger::setLevel("", level);
}

// The largest call input any pool accepts: the HTTP body limit.
std::size_t MaxBody(const config::Config& config) {
  std::uint64_t largest = kMinBody;
  for (const auto& [name, pool] : config.pools) largest = std::max(largest, pool.channel.request);
  return static_cast<std::size_t>(std::min<std::uint64_t>(largest, kMaxBody));
}

UniqueFd SignalFd() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGHUP, SIGINT, SIGTERM}) sigaddset(&set, sig);
  return UniqueFd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
}

UniqueFd TimerFd(std::optional<std::chrono::microseconds> every) {
  if (!every) return UniqueFd();
  UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  const auto half = *every / 2;
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(half.count() / 1'000'000);
  spec.it_interval.tv_nsec = static_cast<long>(half.count() % 1'000'000 * 1000);
  spec.it_value = spec.it_interval;
  if (fd) timerfd_settime(fd.get(), 0, &spec, nullptr);
  return fd;
}

std::string StatusLine(const std::vector<supervisor::PoolStatus>& pools) {
  std::uint32_t ready = 0, desired = 0;
  for (const auto& pool : pools) {
    desired += pool.desired_workers;
    for (const auto& w : pool.workers) {
      ready += w.state == supervisor::WorkerState::kReady || w.state == supervisor::WorkerState::kBusy;
    }
  }
  return std::to_string(pools.size()) + " pools, " + std::to_string(ready) + "/" + std::to_string(desired) +
         " workers ready";
}

void LogSummary(const std::string& what, const ReloadSummary& s) {
  auto names = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& n : v) out += (out.empty() ? "" : ",") + n;
    return out.empty() ? std::string("-") : out;
  };
  Log().information("%s: added %s, removed %s, changed (workers restarted) %s, resized %s", what, names(s.added),
                    names(s.removed), names(s.changed), names(s.resized));
  if (!s.supervisor_keys.empty()) {
    Log().warning("the supervisor: section changed (%s); socket and listener changes take effect on restart",
                  names(s.supervisor_keys));
  }
}

// Autostart pools ready, or the longest start_timeout passed (then READY=1
// anyway: the daemon serves, and /readyz says what is missing).
void AwaitStart(Controller& controller) {
  std::chrono::nanoseconds longest = 1s;
  const config::Config running = controller.running();
  for (const auto& [name, pool] : running.pools) longest = std::max(longest, pool.start_timeout);
  const Deadline deadline = Deadline::After(longest + 1s);
  for (const auto& [name, pool] : running.pools) {
    if (!pool.autostart) continue;
    if (Status s = controller.supervisor().WaitReady(name, deadline); !s) {
      Log().warning("pool %s not ready at start: %s", name, s.error().message());
    }
  }
}

// Stops every pool at once (each gets its stop_timeout), on its own thread.
class Shutdown {
 public:
  explicit Shutdown(Controller& controller) : done_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread([this, &controller] {
      std::vector<std::thread> stops;
      for (const auto& [name, pool] : controller.running().pools) {
        stops.emplace_back([&controller, name, grace = pool.stop_timeout] {
          auto report = controller.supervisor().Stop(name, Deadline::After(grace + 5s));
          if (!report) Log().warning("stopping %s: %s", name, report.error().message());
        });
      }
      for (auto& t : stops) t.join();
      const std::uint64_t one = 1;
      (void)!write(done_.get(), &one, sizeof one);
    });
  }
  ~Shutdown() { thread_.join(); }
  int done_fd() const { return done_.get(); }

 private:
  UniqueFd done_;
  std::thread thread_;
};

void KillEverything(Controller& controller) {
  for (const auto& pool : controller.supervisor().Snapshot({.rss = false})) {
    (void)controller.supervisor().Signal(pool.name, std::nullopt, SIGKILL);
  }
}

std::optional<gid_t> SocketGid(const config::SupervisorSettings& settings) {
  if (!settings.socket_group) return std::nullopt;
  const group* g = getgrnam(settings.socket_group->c_str());
  return g != nullptr ? std::optional<gid_t>(g->gr_gid) : std::nullopt;
}

// Runs reloads one at a time on a thread of its own: applying a config may
// wait for removed pools to stop, and the signal loop must stay free for
// SIGTERM and the watchdog meanwhile. Requests made during a reload fold
// into one more reload after it.
class Reloader {
 public:
  explicit Reloader(std::function<void()> reload)
      : thread_([this, reload = std::move(reload)](std::stop_token stop) { Run(stop, reload); }) {}
  ~Reloader() {
    thread_.request_stop();
    wake_.notify_all();
  }  // ~jthread joins: a reload in progress finishes first
  void Request() {
    {
      std::lock_guard lock(mu_);
      pending_ = true;
    }
    wake_.notify_all();
  }

 private:
  void Run(std::stop_token stop, const std::function<void()>& reload) {
    while (true) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return pending_ || stop.stop_requested(); });
        if (stop.stop_requested()) return;
        pending_ = false;
      }
      reload();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  bool pending_ = false;
  std::jthread thread_;  // last: starts after the fields it uses exist
};

class Daemon {
 public:
  Daemon(const DaemonOptions& options, config::Config config)
      : options_(options), config_(std::move(config)), notifier_(Notifier::FromEnvironment()) {}

  int Run();

 private:
  int Start();
  void Reload();
  void Loop();
  void Stop();

  const DaemonOptions& options_;
  config::Config config_;
  Notifier notifier_;
  UniqueFd signals_ = SignalFd();
  UniqueFd shutdown_request_{eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServers> http_;
  std::unique_ptr<Reloader> reloader_;
};

int Daemon::Start() {
  const config::SupervisorSettings& settings = config_.supervisor;
  http_ = std::make_unique<HttpServers>([this](const HttpRequest& r) { return api_->Handle(r); }, MaxBody(config_));
  if (Status s = http_->ListenUnix({settings.control_socket, static_cast<mode_t>(settings.socket_mode),
                                    settings.socket_group});
      !s) {
    Log().critical("cannot serve the control API: %s", s.error().ToString());
    return s.error().code() == ErrorCode::kInvalidArgument ? kExitBadConfig : kExitTemporary;
  }
  if (settings.metrics_listen) {
    if (Status s = http_->ListenTcp(*settings.metrics_listen); !s) {
      Log().critical("cannot serve metrics: %s", s.error().ToString());
      return kExitTemporary;
    }
  }
  supervisor::SupervisorOptions supervisor_options;
  supervisor_options.output_sink = [](std::string_view pool, supervisor::LogStream stream, std::string_view line) {
    Poco::Logger::get("pool." + std::string(pool))
        .information("[%s] %s", std::string(supervisor::LogStreamName(stream)), std::string(line));
  };
  auto controller = Controller::Create(options_.config_path, config_, std::move(supervisor_options));
  if (!controller) {
    Log().critical("cannot start: %s", controller.error().ToString());
    return controller.error().code() == ErrorCode::kBadConfig ? kExitBadConfig : kExitTemporary;
  }
  controller_ = std::move(*controller);
  const int fd = shutdown_request_.get();
  ApiOptions api_options;
  api_options.daemon_uid = getuid();
  api_options.socket_gid = SocketGid(settings);
  api_options.shutdown = [fd] {
    const std::uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
  };
  api_options.reloaded = [this] { http_->SetMaxBody(MaxBody(controller_->running())); };
  api_options.version = options_.version;
  api_ = std::make_unique<Api>(*controller_, std::move(api_options));
  reloader_ = std::make_unique<Reloader>([this] { Reload(); });
  http_->Start();
  Log().information("supervisor %s: %s pools from %s; control API on %s", options_.version, std::to_string(config_.pools.size()),
                    options_.config_path.string(), settings.control_socket.string());
  AwaitStart(*controller_);
  const std::string status = StatusLine(controller_->supervisor().Snapshot({.rss = false}));
  Log().information("ready: %s", status);
  if (Status s = notifier_.Ready(status); !s) Log().warning("sd_notify: %s", s.error().ToString());
  return kExitOk;
}

void Daemon::Reload() {
  Log().information("SIGHUP: rereading %s", options_.config_path.string());
  (void)notifier_.Reloading();
  auto summary = controller_->Update(std::nullopt);
  if (summary) {
    LogSummary("reload", *summary);
    http_->SetMaxBody(MaxBody(controller_->running()));  // a new pool may take larger calls
    const auto& keys = summary->supervisor_keys;
    if (std::find_if(keys.begin(), keys.end(), [](const std::string& k) { return k.starts_with("log_"); }) != keys.end()) {
      SetUpLogging(controller_->running().supervisor);
      Log().information("logging settings applied");
    }
  } else {
    Log().error("reload refused, the running pools are unchanged:\n%s", summary.error().message());
  }
  (void)notifier_.Ready(StatusLine(controller_->supervisor().Snapshot({.rss = false})));
}

// Until SIGTERM, SIGINT or POST /v1/shutdown.
void Daemon::Loop() {
  UniqueFd watchdog = TimerFd(notifier_.watchdog());
  while (true) {
    pollfd fds[3] = {{signals_.get(), POLLIN, 0}, {shutdown_request_.get(), POLLIN, 0}, {watchdog.get(), POLLIN, 0}};
    if (poll(fds, watchdog ? 3 : 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents != 0) return;
    if (watchdog && fds[2].revents != 0) {
      std::uint64_t ticks;
      (void)!read(watchdog.get(), &ticks, sizeof ticks);
      (void)controller_->supervisor().Snapshot({.rss = false});  // blocks if the supervisor is wedged
      (void)notifier_.Watchdog();
    }
    signalfd_siginfo info{};
    while (read(signals_.get(), &info, sizeof info) == sizeof info) {
      if (info.ssi_signo != SIGHUP) {
        Log().information("%s: stopping every pool", std::string(sigabbrev_np(static_cast<int>(info.ssi_signo))));
        return;
      }
      reloader_->Request();
    }
  }
}

void Daemon::Stop() {
  (void)notifier_.Stopping();
  api_->BeginShutdown();
  {
    Shutdown shutdown(*controller_);
    bool killed = false;
    while (true) {
      pollfd fds[2] = {{shutdown.done_fd(), POLLIN, 0}, {signals_.get(), POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[0].revents != 0) break;
      signalfd_siginfo info{};
      while (read(signals_.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGHUP || killed) continue;
        Log().warning("second %s: killing every worker now", std::string(sigabbrev_np(static_cast<int>(info.ssi_signo))));
        KillEverything(*controller_);
        killed = true;
      }
    }
  }
  reloader_.reset();  // waits for a reload in progress
  http_->Stop();      // no handler runs after this
  http_.reset();
  api_.reset();
  controller_.reset();
  Log().information("stopped");
}

int Daemon::Run() {
  if (!signals_ || !shutdown_request_) {
    Log().critical("signalfd/eventfd: %s", std::strerror(errno));
    return kExitTemporary;
  }
  if (int code = Start(); code != kExitOk) return code;
  Loop();
  Stop();
  return kExitOk;
}

}  // namespace

int CheckConfig(const std::filesystem::path& path) {
  auto loaded = config::LoadFile(path);
  if (loaded) {
    if (auto ok = config::Validate(*loaded, supervisor::PluginProbeFor(supervisor::DefaultWorkerPath())); !ok) {
      std::fprintf(stderr, "%s\n", ok.error().ToString().c_str());
      return kExitBadConfig;
    }
    std::printf("%s: ok (%zu pools)\n", path.c_str(), loaded->pools.size());
    return kExitOk;
  }
  std::fprintf(stderr, "%s\n", loaded.error().ToString().c_str());
  return kExitBadConfig;
}

int RunDaemon(const DaemonOptions& options) {
  auto loaded = config::LoadFile(options.config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().ToString().c_str());
    return kExitBadConfig;
  }
  SetUpLogging(loaded->supervisor);
  Daemon daemon(options, std::move(*loaded));
  return daemon.Run();
}

}  // namespace sv::daemon
