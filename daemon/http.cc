#include "daemon/http.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <system_error>
#include <vector>

#include "base/deadline.h"
#include "base/unique_fd.h"

namespace sv::daemon {

namespace {

constexpr int kMaxThreads = 64;  // long polls (tail -f) and calls each hold one
constexpr int kBacklog = 128;

constexpr int kMaxTcpThreads = 8;  // probes and scrapers: a flood there cannot starve the control socket

// Poco creates and accepts sockets without SOCK_CLOEXEC; a worker spawned
// meanwhile would inherit them (and keep a client's connection open).
class CloexecServerSocketImpl final : public Poco::Net::ServerSocketImpl {
 public:
  Poco::Net::SocketImpl* acceptConnection(Poco::Net::SocketAddress& client) override {
    sockaddr_storage address{};
    socklen_t size = sizeof address;
    int fd;
    do {
      fd = accept4(sockfd(), reinterpret_cast<sockaddr*>(&address), &size, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) error();  // throws the matching Poco exception
    if (address.ss_family != AF_UNIX) client = Poco::Net::SocketAddress(reinterpret_cast<sockaddr*>(&address), size);
    return new Poco::Net::StreamSocketImpl(fd);
  }

 protected:
  void init(int af) override { initSocket(af, SOCK_STREAM | SOCK_CLOEXEC); }
};

class CloexecServerSocket final : public Poco::Net::ServerSocket {
 public:
  CloexecServerSocket() : ServerSocket(new CloexecServerSocketImpl, true) {}
};

// The raw request target's path split at '/', each segment then decoded.
std::vector<std::string> Segments(const std::string& target) {
  const std::string raw = target.substr(0, target.find_first_of("?#"));
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= raw.size()) {
    const std::size_t end = std::min(raw.find('/', start), raw.size());
    if (end > start) {
      std::string decoded;
      Poco::URI::decode(raw.substr(start, end - start), decoded);
      out.push_back(std::move(decoded));
    }
    start = end + 1;
  }
  return out;
}

void ReadCredentials(Poco::Net::HTTPServerRequest& request, HttpRequest& out) {
  auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
  if (impl == nullptr) return;
  const int fd = impl->socket().impl()->sockfd();
  ucred cred{};
  socklen_t size = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) == 0) {
    out.peer_uid = cred.uid;
    out.peer_gid = cred.gid;
    out.peer_pid = cred.pid;
  }
  std::vector<gid_t> groups(64);
  socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) != 0) {
    if (errno == ERANGE) {
      groups.resize(bytes / sizeof(gid_t));
      if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) != 0) bytes = 0;
    } else {
      bytes = 0;  // unknown: no group
    }
  }
  groups.resize(bytes / sizeof(gid_t));
  out.peer_groups = std::move(groups);
}

// Reads at most `max` bytes; more marks the body too large.
void ReadBody(Poco::Net::HTTPServerRequest& request, std::size_t max, HttpRequest& out) {
  // Neither a length nor chunks: no body (RFC 9112 6.3), not "read until the client closes".
  if (!request.hasContentLength() && !request.getChunkedTransferEncoding()) return;
  if (request.hasContentLength() && request.getContentLength64() < 0) {
    throw Poco::Net::MessageException("negative Content-Length");
  }
  const auto declared = request.getContentLength64();
  if (declared != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH && static_cast<std::uint64_t>(declared) > max) {
    out.body_too_large = true;
    return;
  }
  std::istream& in = request.stream();
  std::vector<char> chunk(64 << 10);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    out.body.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    if (out.body.size() > max) {
      out.body.clear();
      out.body_too_large = true;
      return;
    }
  }
}

HttpRequest Convert(Poco::Net::HTTPServerRequest& request, std::size_t max_body, bool tcp) {
  HttpRequest out;
  out.method = request.getMethod();
  out.tcp = tcp;
  const Poco::URI uri(request.getURI());
  out.path = uri.getPath();
  out.segments = Segments(request.getURI());
  for (const auto& [key, value] : uri.getQueryParameters()) out.query[key] = value;
  if (!tcp) ReadCredentials(request, out);
  if (out.method == "POST" || out.method == "PUT") ReadBody(request, max_body, out);
  return out;
}

HttpResponse BadRequest(const std::string& why) {
  std::string quoted;
  for (char c : why) {
    if (c == '"' || c == '\\') quoted += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) quoted += c;
  }
  return {400, "application/json", R"({"error": {"code": "BadRequest", "message": ")" + quoted + "\"}}\n"};
}

class Handler final : public Poco::Net::HTTPRequestHandler {
 public:
  Handler(const HttpHandler& handler, const std::atomic<std::size_t>& max_body, bool tcp)
      : handler_(handler), max_body_(max_body), tcp_(tcp) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
    HttpResponse answer;
    bool drop_connection = false;
    try {
      const HttpRequest converted = Convert(request, max_body_.load(std::memory_order_relaxed), tcp_);
      drop_connection = converted.body_too_large;  // the unread body is still on the wire
      answer = handler_(converted);
    } catch (const Poco::Exception& e) {
      answer = BadRequest(e.displayText());
    } catch (const std::exception& e) {
      answer = BadRequest(e.what());
    }
    try {
      if (drop_connection) response.setKeepAlive(false);
      response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(answer.status));
      response.setContentType(answer.content_type);
      response.setContentLength64(static_cast<Poco::Int64>(answer.body.size()));
      response.send().write(answer.body.data(), static_cast<std::streamsize>(answer.body.size()));
    } catch (const std::exception&) {
      // The client went away; nothing to tell it.
    }
  }

 private:
  const HttpHandler& handler_;
  const std::atomic<std::size_t>& max_body_;
  bool tcp_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(const HttpHandler& handler, const std::atomic<std::size_t>& max_body, bool tcp)
      : handler_(handler), max_body_(max_body), tcp_(tcp) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(handler_, max_body_, tcp_);
  }

 private:
  const HttpHandler& handler_;
  const std::atomic<std::size_t>& max_body_;
  bool tcp_;
};

Poco::Net::HTTPServerParams::Ptr Params(bool tcp) {
  Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(tcp ? kMaxTcpThreads : kMaxThreads);
  params->setMaxQueued(tcp ? 32 : 256);
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(5, 0));
  params->setTimeout(Poco::Timespan(10, 0));  // a client that sends half a request and stalls
  params->setServerName("supervisor");
  return params;
}

Status CheckSocketPath(const std::filesystem::path& path) {
  if (path.native().size() >= sizeof(sockaddr_un::sun_path)) {
    return std::unexpected(Error(ErrorCode::kInvalidArgument, "control socket path too long (over " +
                                                                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                                                                  " bytes): " + path.string()));
  }
  return {};
}

Status PrepareSocketPath(const std::filesystem::path& path) {
  if (Status s = CheckSocketPath(path); !s) return s;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return std::unexpected(Error::FromErrno("mkdir " + path.parent_path().string(), ec.value()));
  if (HttpServers::SomeoneListens(path)) {
    return std::unexpected(Error(ErrorCode::kInUse, "another supervisor already answers on " + path.string()));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return std::unexpected(Error::FromErrno("unlink stale socket " + path.string(), errno));
  }
  return {};
}

Status SetOwnership(const UnixListenOptions& options) {
  if (chmod(options.path.c_str(), options.mode) != 0) {
    return std::unexpected(Error::FromErrno("chmod " + options.path.string(), errno));
  }
  if (!options.group) return {};
  const group* g = getgrnam(options.group->c_str());
  if (g == nullptr) {
    return std::unexpected(Error(ErrorCode::kInvalidArgument, "socket_group: no group named '" + *options.group + "'"));
  }
  if (chown(options.path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
    return std::unexpected(Error::FromErrno("chown :" + *options.group + " " + options.path.string(), errno));
  }
  return {};
}

}  // namespace

struct HttpServers::Impl {
  HttpHandler handler;
  std::atomic<std::size_t> max_body;
  // One pool per listener: stalled TCP clients cannot take the control socket's threads.
  Poco::ThreadPool unix_threads{2, kMaxThreads};
  Poco::ThreadPool tcp_threads{1, kMaxTcpThreads};
  std::vector<std::unique_ptr<Poco::Net::HTTPServer>> servers;
  std::optional<std::filesystem::path> socket_path;
  bool started = false;

  void Add(const Poco::Net::ServerSocket& socket, bool tcp) {
    servers.push_back(std::make_unique<Poco::Net::HTTPServer>(new Factory(handler, max_body, tcp),
                                                              tcp ? tcp_threads : unix_threads, socket, Params(tcp)));
  }
  bool Busy() const {
    for (const auto& server : servers) {
      if (server->currentConnections() > 0) return true;
    }
    return false;
  }
};

HttpServers::HttpServers(HttpHandler handler, std::size_t max_body) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->max_body = max_body;
}

void HttpServers::SetMaxBody(std::size_t max_body) { impl_->max_body = max_body; }

HttpServers::~HttpServers() { Stop(); }

bool HttpServers::SomeoneListens(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof(address.sun_path)) return false;
  std::memcpy(address.sun_path, path.c_str(), path.native().size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return fd && connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
}

Status HttpServers::ListenUnix(const UnixListenOptions& options) {
  if (Status s = PrepareSocketPath(options.path); !s) return s;
  const mode_t old_umask = umask(0177);  // no moment where the socket is open to others
  try {
    CloexecServerSocket socket;
    socket.bind(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, options.path.string()));
    socket.listen(kBacklog);
    umask(old_umask);
    impl_->socket_path = options.path;
    if (Status s = SetOwnership(options); !s) return s;
    impl_->Add(socket, false);
  } catch (const Poco::Exception& e) {
    umask(old_umask);
    return std::unexpected(Error(ErrorCode::kSystem, "listen on " + options.path.string() + ": " + e.displayText()));
  }
  return {};
}

Status HttpServers::ListenTcp(const config::ListenAddress& address) {
  try {
    Poco::Net::SocketAddress where(address.host, address.port);
    CloexecServerSocket socket;
    socket.bind(where, true);
    socket.listen(kBacklog);
    impl_->Add(socket, true);
  } catch (const Poco::Exception& e) {
    return std::unexpected(Error(ErrorCode::kSystem, "listen on " + address.ToString() + ": " + e.displayText()));
  }
  return {};
}

void HttpServers::Start() {
  for (auto& server : impl_->servers) server->start();
  impl_->started = true;
}

void HttpServers::Stop() {
  if (!impl_) return;
  if (impl_->started) {
    for (auto& server : impl_->servers) server->stop();  // no new connections
    const Deadline grace = Deadline::After(std::chrono::seconds(3));
    while (impl_->Busy() && !grace.Expired()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto& server : impl_->servers) server->stopAll(true);  // shuts down what is left
    impl_->unix_threads.joinAll();
    impl_->tcp_threads.joinAll();
  }
  impl_->servers.clear();
  impl_->started = false;
  if (impl_->socket_path) {
    unlink(impl_->socket_path->c_str());
    impl_->socket_path.reset();
  }
}

}  // namespace sv::daemon
