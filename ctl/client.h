// The HTTP/1.1 client of the daemon's control API (docs/api.md) over its Unix
// socket, built on Poco::Net. Runs in the supervisorctl process; no Poco type
// or exception crosses this header.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "base/deadline.h"
#include "base/error.h"

namespace sv::ctl {

// One answer: the status code, its Content-Type and the whole body.
struct Response {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Talks to the daemon at one socket path, one connection per request.
// Stateless and cheap to copy; safe to use from several threads.
class Client {
 public:
  explicit Client(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  // Sends `method target` (target: "/v1/pools?x=y", already URL-encoded) with
  // `body` (sent with a Content-Length when non-empty or when the method is
  // POST) and reads the whole answer, of any status. Blocks until the answer
  // has arrived or `deadline` passes; an infinite deadline waits without limit.
  // Errors: kSystem with the errno when connecting fails (ENOENT: no socket;
  // ECONNREFUSED: no one listening; EACCES: no permission); kDeadlineExceeded;
  // kClosed when the daemon hangs up before answering in full;
  // kProtocolViolation when the answer is not HTTP.
  [[nodiscard]] std::expected<Response, Error> Send(std::string_view method, const std::string& target,
                                                    std::string_view body, Deadline deadline) const;

  const std::string& socket_path() const { return socket_path_; }

 private:
  std::string socket_path_;
};

// `text` percent-encoded for a URL path segment or query value: everything
// but unreserved characters (letters, digits, "-", ".", "_", "~").
std::string UrlEncode(std::string_view text);

}  // namespace sv::ctl
