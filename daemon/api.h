// The control API of docs/api.md: routes a request to the supervisor and
// answers JSON. No Poco types cross this header; handlers block the HTTP
// thread that called them (calls, waits, long polls), never longer than the
// request's timeout. Used by the daemon.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/error.h"
#include "daemon/controller.h"
#include "daemon/http.h"

namespace sv::daemon {

struct ApiOptions {
  uid_t daemon_uid = 0;                 // peers with this uid (or root) are served
  std::optional<gid_t> socket_gid;      // and members of the socket's group, when one is configured
  std::function<void()> shutdown;       // POST /v1/shutdown: stop the daemon
  std::function<void()> reloaded;       // after POST /v1/update applied a config
  std::string version;
};

class Api {
 public:
  Api(Controller& controller, ApiOptions options) : controller_(controller), options_(std::move(options)) {}

  HttpResponse Handle(const HttpRequest& request);
  // From now on, requests that would start work get 503 ShuttingDown and
  // long polls return at once.
  void BeginShutdown();

 private:
  HttpResponse Route(const HttpRequest& request);
  bool InSocketGroup(const HttpRequest& request) const;
  HttpResponse Pools(const HttpRequest& request, const std::vector<std::string>& parts);
  HttpResponse Call(const HttpRequest& request, const supervisor::PoolStatus& pool);
  HttpResponse Logs(const HttpRequest& request, const supervisor::PoolStatus& pool);
  HttpResponse Worker(const HttpRequest& request, const supervisor::PoolStatus& pool, const std::string& slot,
                      const std::string& verb);
  // `signal`: the body's "signal" member, already checked to be a string.
  HttpResponse Signal(const std::string& pool, std::optional<std::uint32_t> slot, const std::string& signal);

  Controller& controller_;
  ApiOptions options_;
  std::atomic<bool> shutting_down_{false};
};

// The JSON error body and status for `error` (docs/api.md's table).
HttpResponse ErrorResponse(const Error& error);
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message);

}  // namespace sv::daemon
