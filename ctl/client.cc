// The control API client: Poco::Net::HTTPClientSession over a connected
// UNIX_LOCAL StreamSocket; Poco exceptions end here and become sv::Error.
#include "ctl/client.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>

#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <istream>
#include <mutex>
#include <ostream>
#include <sstream>
#include <stop_token>
#include <thread>

namespace sv::ctl {
namespace {

using namespace std::chrono_literals;

// The deadline as a socket timeout: 0 (none) when infinite, else at least 1 ms
// (a zero SO_RCVTIMEO would mean "wait forever").
Poco::Timespan TimeoutFor(Deadline deadline) {
  if (deadline.infinite()) return Poco::Timespan(0);
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline.Remaining());
  return Poco::Timespan(std::max<std::int64_t>(left.count(), 1000));
}

Poco::Net::StreamSocket Connect(const std::string& path, Deadline deadline) {
  Poco::Net::SocketAddress address(Poco::Net::SocketAddress::UNIX_LOCAL, path);
  Poco::Net::StreamSocket socket;
  if (deadline.infinite()) {
    socket.connect(address);
  } else {
    socket.connect(address, TimeoutFor(deadline));
  }
  return socket;
}

// Shuts the socket down (both ways) when `deadline` passes, so that a peer
// trickling bytes cannot hold a send or recv past it: SO_RCVTIMEO and
// SO_SNDTIMEO bound each call alone. Nothing runs for an infinite deadline.
// Must be stopped (or destroyed) before the socket is closed; not movable.
class Watchdog {
 public:
  Watchdog(int fd, Deadline deadline) {
    if (deadline.infinite()) return;
    thread_ = std::jthread([this, fd, deadline](std::stop_token stop) {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, stop, deadline.when(), [] { return false; });
      if (stop.stop_requested()) return;
      fired_ = true;
      ::shutdown(fd, SHUT_RDWR);
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Ends the wait; true when the socket had been shut down by then.
  bool Stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
    return fired_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::atomic<bool> fired_ = false;
  std::jthread thread_;  // last: joined before the members it uses go
};

bool IsPeerGone(const Poco::Exception& e) {
  return e.code() == EPIPE || e.code() == ECONNRESET ||
         dynamic_cast<const Poco::Net::ConnectionResetException*>(&e) != nullptr;
}

// Whether `raw` holds a whole answer: its head, and its body when the head
// gives a Content-Length. Fills `answer` and `body_at` once the head is whole.
bool WholeAnswer(const std::string& raw, Poco::Net::HTTPResponse& answer, std::size_t& body_at) {
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::istringstream head(raw.substr(0, head_end + 4));
  answer.clear();
  answer.read(head);  // throws MessageException when it is not HTTP
  body_at = head_end + 4;
  return answer.hasContentLength() && raw.size() - body_at >= static_cast<std::uint64_t>(answer.getContentLength64());
}

// The answer read straight off the socket once sending the body failed
// because the daemon hung up: it may refuse a request from its head alone (413
// over the channel capacity) and close without reading the body, and on a Unix
// socket what it wrote before closing stays readable. Rethrows `send_error`
// when no whole answer comes.
Response ReceiveAfterFailedSend(Poco::Net::StreamSocket& socket, const Poco::Exception& send_error) {
  std::string raw;
  char buffer[16 * 1024];
  Poco::Net::HTTPResponse answer;
  std::size_t body_at = 0;
  try {
    while (!WholeAnswer(raw, answer, body_at)) {
      const int n = socket.receiveBytes(buffer, sizeof buffer);
      if (n <= 0) break;
      raw.append(buffer, static_cast<std::size_t>(n));
    }
  } catch (const Poco::Exception&) {
    // A reset, the deadline or not HTTP: judged below by what arrived.
  }
  try {
    const bool whole = WholeAnswer(raw, answer, body_at);
    if (!whole && (body_at == 0 || answer.hasContentLength())) send_error.rethrow();
  } catch (const Poco::Net::MessageException&) {
    send_error.rethrow();
  }
  std::string body = raw.substr(body_at);
  if (answer.hasContentLength()) body.resize(static_cast<std::size_t>(answer.getContentLength64()));
  return Response{static_cast<int>(answer.getStatus()), answer.getContentType(), std::move(body)};
}

Response Exchange(Poco::Net::StreamSocket& socket, std::string_view method, const std::string& target,
                  std::string_view body, Deadline deadline) {
  Poco::Net::HTTPClientSession session(socket);
  Poco::Net::HTTPRequest request(std::string(method), target, Poco::Net::HTTPMessage::HTTP_1_1);
  request.setHost("localhost");
  request.setKeepAlive(false);
  if (!body.empty() || method == "POST") request.setContentLength(static_cast<std::streamsize>(body.size()));
  socket.setSendTimeout(TimeoutFor(deadline));
  std::ostream& out = session.sendRequest(request);
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
  out.flush();
  socket.setReceiveTimeout(TimeoutFor(deadline));
  // The stream keeps a failed write to itself; the session keeps the exception.
  if (const Poco::Exception* failed = session.networkException(); failed != nullptr && IsPeerGone(*failed)) {
    return ReceiveAfterFailedSend(socket, *failed);
  }
  Poco::Net::HTTPResponse answer;
  std::istream& in = session.receiveResponse(answer);
  // Without badbit in the mask, iostreams swallow a Poco exception thrown
  // mid-body (a timeout, a reset) and the body would end silently short.
  in.exceptions(std::ios::badbit);
  Response response{static_cast<int>(answer.getStatus()), answer.getContentType(), {}};
  Poco::StreamCopier::copyToString(in, response.body);
  if (answer.hasContentLength() && static_cast<std::int64_t>(response.body.size()) != answer.getContentLength64()) {
    throw Poco::Net::ConnectionResetException("the answer ended early");
  }
  return response;
}

Error NoAnswerInTime(const std::string& path) {
  return Error(ErrorCode::kDeadlineExceeded, "socket " + path + ": no answer in time");
}

Error ErrorFor(const Poco::Exception& e, const std::string& path) {
  const std::string where = "socket " + path;
  if (dynamic_cast<const Poco::TimeoutException*>(&e) != nullptr) return NoAnswerInTime(path);
  if (dynamic_cast<const Poco::Net::NoMessageException*>(&e) != nullptr ||
      dynamic_cast<const Poco::Net::ConnectionResetException*>(&e) != nullptr) {
    return Error(ErrorCode::kClosed, where + ": the daemon closed the connection before answering");
  }
  if (dynamic_cast<const Poco::Net::MessageException*>(&e) != nullptr) {
    return Error(ErrorCode::kProtocolViolation, where + ": not an HTTP answer: " + e.displayText());
  }
  // Poco's socket exceptions carry the errno as their code.
  if (e.code() > 0) return Error::FromErrno(where, e.code());
  return Error(ErrorCode::kSystem, where + ": " + e.displayText());
}

}  // namespace

std::expected<Response, Error> Client::Send(std::string_view method, const std::string& target, std::string_view body,
                                            Deadline deadline) const {
  if (deadline.Expired()) return Fail(ErrorCode::kDeadlineExceeded, "socket " + socket_path_ + ": no time left");
  try {
    Poco::Net::StreamSocket socket = Connect(socket_path_, deadline);
    Watchdog watchdog(socket.impl()->sockfd(), deadline);
    Response response = Exchange(socket, method, target, body, deadline);
    // A shut-down socket may have cut short an answer without a Content-Length.
    if (watchdog.Stop()) return std::unexpected(NoAnswerInTime(socket_path_));
    return response;
  } catch (const Poco::Exception& e) {
    // Whatever the watchdog's shutdown surfaced as (a reset, EPIPE, a short body).
    if (deadline.Expired()) return std::unexpected(NoAnswerInTime(socket_path_));
    return std::unexpected(ErrorFor(e, socket_path_));
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kSystem, "socket " + socket_path_ + ": " + e.what());
  }
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace sv::ctl
