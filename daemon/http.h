// The daemon's HTTP/1.1 servers (Poco::Net) on a Unix socket and, optionally,
// a loopback TCP port. Requests become plain HttpRequest values handed to one
// function; Poco stays in this file and its .cc. Used by the daemon.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "config/units.h"

namespace sv::daemon {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded, without the query (for messages)
  // The path's segments, split before decoding: "/v1/pools/a%2Fb" is
  // {"v1", "pools", "a/b"}; empty segments are left out.
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
  std::string body;
  bool body_too_large = false;  // over the server's limit: `body` is empty
  // The peer's credentials (SO_PEERCRED); nullopt over TCP.
  std::optional<uid_t> peer_uid;
  std::optional<gid_t> peer_gid;
  std::vector<gid_t> peer_groups;  // supplementary (SO_PEERGROUPS)
  std::optional<pid_t> peer_pid;
  bool tcp = false;  // the probes-and-metrics listener
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct UnixListenOptions {
  std::filesystem::path path;
  mode_t mode = 0600;
  std::optional<std::string> group;  // owning group name; unset: the daemon's
};

class HttpServers {
 public:
  // Request bodies over `max_body` bytes are not read (body_too_large).
  HttpServers(HttpHandler handler, std::size_t max_body);
  // A new body limit, for requests from now on (after a reload).
  void SetMaxBody(std::size_t max_body);
  HttpServers(const HttpServers&) = delete;
  HttpServers& operator=(const HttpServers&) = delete;
  ~HttpServers();  // Stop()

  // Binds the control socket. A live daemon already answering there is an
  // error (kInUse); a stale socket file left by a crash is replaced. Creates
  // the socket's folder (0755) when missing. Errors: kInUse, kSystem,
  // kInvalidArgument (unknown group, path too long).
  [[nodiscard]] Status ListenUnix(const UnixListenOptions& options);
  // Binds host:port over TCP (for /metrics, /healthz, /readyz).
  [[nodiscard]] Status ListenTcp(const config::ListenAddress& address);
  // Starts serving what was bound.
  void Start();
  // Stops accepting, lets requests in progress finish for up to 3 s, then
  // shuts the remaining connections down (a client trickling a request
  // included), waits until no handler runs, and removes the socket file.
  void Stop();

  // Whether something answers at `path` (a connect succeeds).
  static bool SomeoneListens(const std::filesystem::path& path);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sv::daemon
