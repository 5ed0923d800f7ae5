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

#include <cctype>
#include <cerrno>
#include <chrono>
#include <istream>
#include <ostream>

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

Error ErrorFor(const Poco::Exception& e, const std::string& path) {
  const std::string where = "socket " + path;
  if (dynamic_cast<const Poco::TimeoutException*>(&e) != nullptr) {
    return Error(ErrorCode::kDeadlineExceeded, where + ": no answer in time");
  }
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
    return Exchange(socket, method, target, body, deadline);
  } catch (const Poco::Exception& e) {
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
