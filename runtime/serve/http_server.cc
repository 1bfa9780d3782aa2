#include "runtime/serve/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <thread>

#include "runtime/serve/api_error.h"
#include "runtime/util/error.h"

namespace lmc::serve {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxHeaderBytes = 16 * 1024;

int MillisecondsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

Clock::time_point After(double seconds) {
  return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

// Reads what is available into `buffer` (up to `max` bytes more) before `deadline`:
// > 0 bytes read, 0 the peer closed, -1 nothing before the deadline, -2 an error.
ssize_t ReadSome(int fd, std::string& buffer, size_t max, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, MillisecondsLeft(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -2;
    if (ready == 0) return -1;
    char chunk[16384];
    ssize_t n = recv(fd, chunk, std::min(sizeof(chunk), max), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return -2;
    if (n > 0) buffer.append(chunk, static_cast<size_t>(n));
    return n;
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// A problem with the request itself, answered by the HTTP layer.
struct HttpError {
  int status;
  std::string message;
};

// Parses the request line and headers (text before the blank line).
HttpRequest ParseHead(std::string_view head) {
  HttpRequest request;
  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) {
    throw HttpError{400, "malformed request line"};
  }
  request.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    throw HttpError{505, "only HTTP/1.0 and HTTP/1.1 are served"};
  }
  request.version = std::string(version);
  if (target.empty() || target[0] != '/') throw HttpError{400, "the request target must be a path"};
  request.path = std::string(target.substr(0, target.find('?')));
  size_t at = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (at < head.size()) {
    size_t end = head.find("\r\n", at);
    if (end == std::string_view::npos) end = head.size();
    std::string_view field = head.substr(at, end - at);
    at = end + 2;
    if (field.empty()) continue;
    size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw HttpError{400, "malformed header line"};
    }
    std::string name = Lower(std::string(field.substr(0, colon)));
    std::string value = Trim(field.substr(colon + 1));
    if (name == "content-length" && request.headers.count(name) && request.headers[name] != value) {
      throw HttpError{400, "conflicting Content-Length headers"};
    }
    request.headers[name] = value;
  }
  return request;
}

}  // namespace

const std::string& HttpRequest::Header(const std::string& lower_name) const {
  static const std::string kEmpty;
  auto it = headers.find(lower_name);
  return it == headers.end() ? kEmpty : it->second;
}

const char* StatusText(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

bool HttpConnection::WriteAll(std::string_view data) {
  if (broken_) return false;
  const auto deadline = After(write_timeout_);
  while (!data.empty()) {
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, MillisecondsLeft(deadline)) > 0 && !(p.revents & (POLLERR | POLLHUP))) {
        continue;
      }
    }
    broken_ = true;  // the client is gone, or stopped reading for write_timeout
    return false;
  }
  return true;
}

std::string HttpConnection::Head(int status, std::string_view content_type,
                                 const HeaderList& extra) const {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) + "\r\n";
  head += "Content-Type: ";
  head += content_type;
  if (keep_alive_) {
    head += "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=" +
            std::to_string(static_cast<int>(idle_seconds_)) + "\r\n";
  } else {
    head += "\r\nConnection: close\r\n";
  }
  for (const auto& [name, value] : extra) head += name + ": " + value + "\r\n";
  return head;
}

bool HttpConnection::Respond(int status, std::string_view content_type, std::string_view body,
                             const HeaderList& extra) {
  responded_ = true;
  std::string head = Head(status, content_type, extra);
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return WriteAll(head) && WriteAll(body);
}

bool HttpConnection::BeginStream(int status, std::string_view content_type,
                                 const HeaderList& extra) {
  responded_ = true;
  keep_alive_ = false;  // the stream ends when the connection closes
  return WriteAll(Head(status, content_type, extra) + "Cache-Control: no-cache\r\n\r\n");
}

bool HttpConnection::Write(std::string_view data) { return WriteAll(data); }

bool HttpConnection::ClientGone() {
  if (broken_) return true;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) {
    broken_ = true;
    return true;
  }
  if (p.revents & POLLIN) {
    char c;
    ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      broken_ = true;
      return true;
    }
  }
  return false;
}

HttpServer::HttpServer(HttpOptions options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
  if (listen_fd_ >= 0) close(listen_fd_);
  for (int fd : wake_) {
    if (fd >= 0) close(fd);
  }
}

void HttpServer::Listen() {
  // Numeric addresses only: getaddrinfo would need glibc's NSS modules at run time, which a
  // statically linked model binary does not have.
  sockaddr_storage address{};
  socklen_t address_length = 0;
  const std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(options_.port));
    address_length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(options_.port));
    address_length = sizeof(sockaddr_in6);
  } else {
    rt::Fail("--host {}: expected an IP address (127.0.0.1, 0.0.0.0, ::1) or localhost",
             options_.host);
  }
  int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) rt::Fail("socket: {}", std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), address_length) != 0 ||
      listen(fd, 128) != 0) {
    const int error = errno;
    close(fd);
    rt::Fail("cannot listen on {}:{}: {}", options_.host, options_.port, std::strerror(error));
  }
  listen_fd_ = fd;
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) rt::Fail("pipe: {}", std::strerror(errno));
}

void HttpServer::Stop() {
  stopping_ = true;
  if (wake_[1] >= 0) {
    char c = 's';
    [[maybe_unused]] ssize_t n = write(wake_[1], &c, 1);
  }
}

void HttpServer::Run() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int ready = poll(p, 2, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || (p[1].revents & POLLIN)) break;
    if (!(p[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // the client left already, or out of descriptors for now
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (open_.load() >= options_.max_connections) {
      HttpConnection busy(fd, 1.0);
      busy.Respond(503, "application/json",
                   ErrorJson(503, "too many open connections; retry shortly", "", "overloaded"),
                   {{"Retry-After", "1"}});
      close(fd);
      continue;
    }
    ++open_;
    std::thread([this, fd] {
      Serve(fd);
      close(fd);
      std::lock_guard<std::mutex> lock(mu_);
      if (--open_ == 0) all_closed_.notify_all();
    }).detach();
  }
  close(listen_fd_);
  listen_fd_ = -1;
  std::unique_lock<std::mutex> lock(mu_);
  all_closed_.wait(lock, [&] { return open_.load() == 0; });
}

void HttpServer::Serve(int fd) {
  std::string buffer;  // read and not yet used: a pipelined request's bytes
  for (bool first = true; ServeOne(fd, buffer, first); first = false) {
  }
}

bool HttpServer::ServeOne(int fd, std::string& buffer, bool first) {
  HttpConnection connection(fd, options_.write_timeout);
  // A new connection's first request must arrive within the read timeout; a persistent one
  // may idle for the keep-alive timeout, and then has the read timeout from its first byte.
  auto deadline = After(first ? options_.read_timeout : options_.keep_alive);
  bool started = !buffer.empty();
  if (!first && started) deadline = After(options_.read_timeout);
  auto refuse = [&](int status, const std::string& message, bool drain) {
    connection.Respond(status, "application/json", ErrorJson(status, message));
    if (!drain) return false;
    // Read (and drop) what the client still sends for a moment, so that closing does not
    // reset the connection before it has read the answer.
    shutdown(fd, SHUT_WR);
    std::string sink;
    const auto until = std::min(deadline, After(1.0));
    while (ReadSome(fd, sink, 1 << 16, until) > 0) sink.clear();
    return false;
  };
  size_t head_end;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (buffer.size() > kMaxHeaderBytes) {
      return refuse(431, "the request's headers exceed 16 KiB", false);
    }
    // In slices, so that a connection with nothing sent yet closes soon after Stop().
    const auto slice = std::min(deadline, After(0.1));
    ssize_t n = ReadSome(fd, buffer, kMaxHeaderBytes + 4 - buffer.size() + 1, slice);
    if (n == 0 && buffer.empty()) return false;  // connected (or idled) and left
    if (n > 0 && !started) {
      started = true;
      if (!first) deadline = After(options_.read_timeout);
    }
    if (n == -1 && Clock::now() < deadline) {
      if (buffer.empty() && stopping_.load()) return false;
      continue;
    }
    if (n == -1 && buffer.empty() && !first) return false;  // idle past the keep-alive timeout
    if (n <= 0) {
      return refuse(408, "the request did not arrive within the read timeout", false);
    }
  }
  HttpRequest request;
  size_t length = 0;
  try {
    request = ParseHead(std::string_view(buffer).substr(0, head_end));
    if (!request.Header("transfer-encoding").empty()) {
      throw HttpError{411, "chunked request bodies are not supported: send Content-Length"};
    }
    const std::string& declared = request.Header("content-length");
    if (!declared.empty()) {
      if (declared.size() > 18 || !std::all_of(declared.begin(), declared.end(),
                                               [](char c) { return c >= '0' && c <= '9'; })) {
        throw HttpError{400, "Content-Length is not a number"};
      }
      length = std::stoull(declared);
    }
    if (length > options_.max_body) {
      throw HttpError{413, "the request body has " + std::to_string(length) +
                               " bytes; the server takes at most " +
                               std::to_string(options_.max_body)};
    }
  } catch (const HttpError& e) {
    return refuse(e.status, e.message, true);
  }
  buffer.erase(0, head_end + 4);
  if (buffer.size() < length && Lower(request.Header("expect")) == "100-continue") {
    if (!connection.Write("HTTP/1.1 100 Continue\r\n\r\n")) return false;
  }
  while (buffer.size() < length) {
    ssize_t n = ReadSome(fd, buffer, length - buffer.size(), deadline);
    if (n == 0) return false;  // the client left
    if (n < 0) return refuse(408, "the request body did not arrive within the read timeout", false);
  }
  request.body = buffer.substr(0, length);
  buffer.erase(0, length);  // what follows: the next (pipelined) request
  // Persistent unless the client says otherwise (HTTP/1.1's default, HTTP/1.0's opt-in), the
  // server is stopping, or connections are running short.
  const std::string connection_header = Lower(request.Header("connection"));
  const bool wants = request.version == "HTTP/1.1"
                         ? connection_header.find("close") == std::string::npos
                         : connection_header.find("keep-alive") != std::string::npos;
  connection.set_keep_alive(wants && options_.keep_alive > 0 && !stopping_.load() &&
                                open_.load() * 4 <= options_.max_connections * 3,
                            options_.keep_alive);
  try {
    handler_(request, connection);
  } catch (const std::exception& e) {
    if (!connection.responded()) {
      connection.Respond(500, "application/json", ErrorJson(500, e.what()));
    }
  }
  if (!connection.responded()) {
    connection.Respond(500, "application/json", ErrorJson(500, "no response"));
  }
  return connection.keep_alive() && !stopping_.load();
}

}  // namespace lmc::serve
