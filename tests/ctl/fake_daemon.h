// A stand-in for the supervisor daemon's control socket in ctl tests: a real
// Unix socket in a fresh temporary folder, served by one thread that answers
// each request with the raw HTTP its handler returns.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sv::ctl::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::string body;
};

// Thread-safe to query while it serves. The handler runs on the server thread.
class FakeDaemon {
 public:
  // What the handler returns: raw bytes to send, then the connection closes.
  // kHangUp closes without a byte; kSilent keeps the connection open, unanswered,
  // until the FakeDaemon is destroyed.
  static constexpr const char* kHangUp = "";
  static constexpr const char* kSilent = "\x01silent";
  using Handler = std::function<std::string(const FakeRequest&)>;

  // How the fake misbehaves: `read_body` false answers from the request's head
  // and closes with the body unread (as the daemon refuses an oversized call);
  // a `byte_delay` sends the answer one byte at a time, that far apart.
  struct Options {
    bool read_body = true;
    std::chrono::milliseconds byte_delay{0};
  };

  explicit FakeDaemon(Handler handler) : FakeDaemon(std::move(handler), Options{}) {}
  FakeDaemon(Handler handler, Options options) : handler_(std::move(handler)), options_(options) {
    char dir[] = "/tmp/sv_ctl_test_XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    dir_ = dir;
    path_ = dir_ + "/supervisor.sock";
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener_, 16) != 0) {
      std::abort();
    }
    thread_ = std::thread([this] { Serve(); });
  }

  ~FakeDaemon() {
    shutdown(listener_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(listener_);
    for (int fd : silent_) close(fd);
    std::filesystem::remove_all(dir_);
  }

  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  std::vector<FakeRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  // A complete HTTP/1.1 answer.
  static std::string Answer(int status, const std::string& body, const std::string& type = "application/json") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }

 private:
  void Serve() {
    for (;;) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      FakeRequest request = Read(fd, options_.read_body);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      const std::string answer = handler_(request);
      if (answer == kSilent) {
        silent_.push_back(fd);
        continue;
      }
      Write(fd, answer);
      close(fd);
    }
  }

  // Stops early once the client has gone (MSG_NOSIGNAL: no SIGPIPE).
  void Write(int fd, const std::string& answer) const {
    if (options_.byte_delay == std::chrono::milliseconds(0)) {
      (void)!send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      return;
    }
    for (char byte : answer) {
      if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) return;
      std::this_thread::sleep_for(options_.byte_delay);
    }
  }

  // Reads the head and, when `read_body`, a Content-Length body.
  static FakeRequest Read(int fd, bool read_body) {
    std::string data;
    char buffer[4096];
    std::size_t head_end = std::string::npos;
    while (head_end == std::string::npos) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) return {};
      data.append(buffer, static_cast<std::size_t>(n));
      head_end = data.find("\r\n\r\n");
    }
    std::size_t length = 0;
    if (auto at = data.find("Content-Length: "); at != std::string::npos && at < head_end) {
      length = std::stoul(data.substr(at + 16));
    }
    while (read_body && data.size() < head_end + 4 + length) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      data.append(buffer, static_cast<std::size_t>(n));
    }
    FakeRequest request;
    const std::size_t space = data.find(' ');
    request.method = data.substr(0, space);
    request.target = data.substr(space + 1, data.find(' ', space + 1) - space - 1);
    request.body = data.substr(head_end + 4);
    return request;
  }

  Handler handler_;
  Options options_;
  std::string dir_;
  std::string path_;
  int listener_ = -1;
  std::vector<int> silent_;  // server thread only until join
  mutable std::mutex mutex_;
  std::vector<FakeRequest> requests_;
  std::thread thread_;
};

}  // namespace sv::ctl::testing
