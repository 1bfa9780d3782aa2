// A small HTTP/1.1 server for `MODEL serve`: one thread per connection, bodies by
// Content-Length only. Connections persist (HTTP/1.1's default; HTTP/1.0 with
// `Connection: keep-alive`): after a whole response the next request is read from the same
// connection, pipelined ones in order, until the client sends `Connection: close`, stays idle
// for the keep-alive timeout, or the server stops. A streamed response (its end is the
// connection's), an error the HTTP layer answers, and any response while more than three
// quarters of the connection limit is in use close the connection.
//
// What it guards against: a request's line, headers and body must all arrive within the read
// timeout (a client sending a byte a second is dropped, never holds a thread for long); headers
// past 16 KiB get 431, a body past the limit 413 (answered before it is read, honouring
// `Expect: 100-continue`); a chunked request body 411; past the connection limit a new client
// gets 503 at once. Writes time out too, and a client gone mid-response is noticed
// (HttpConnection::Write returns false, ClientGone turns true) so its work can be cancelled.
//
// Debian's libcpp-httplib-dev ships httplib.h split from its implementation, which is only a
// shared library (with OpenSSL and brotli): model binaries link statically, so it cannot be
// part of them. This file is the little of HTTP the server needs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmc::serve {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string version;                         // "HTTP/1.1" or "HTTP/1.0"
  std::string path;                            // the target without its query
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  // The header's value, or "" when absent.
  const std::string& Header(const std::string& lower_name) const;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The response side of one connection, given to the handler.
class HttpConnection {
 public:
  HttpConnection(int fd, double write_timeout_seconds)
      : fd_(fd), write_timeout_(write_timeout_seconds) {}

  // A whole response (Content-Length). False when the client is gone.
  bool Respond(int status, std::string_view content_type, std::string_view body,
               const HeaderList& extra = {});
  // A response whose body follows in Write calls and ends when the connection closes.
  bool BeginStream(int status, std::string_view content_type, const HeaderList& extra = {});
  bool Write(std::string_view data);
  // Whether the client has closed the connection or it broke; does not block.
  bool ClientGone();
  bool responded() const { return responded_; }
  // Whether the connection stays open after this response (set by the server before the
  // handler runs; a stream turns it off).
  bool keep_alive() const { return keep_alive_ && !broken_; }
  void set_keep_alive(bool keep_alive, double idle_seconds) {
    keep_alive_ = keep_alive;
    idle_seconds_ = idle_seconds;
  }

 private:
  std::string Head(int status, std::string_view content_type, const HeaderList& extra) const;
  bool WriteAll(std::string_view data);
  int fd_;
  double write_timeout_;
  bool responded_ = false;
  bool broken_ = false;
  bool keep_alive_ = false;
  double idle_seconds_ = 0;
};

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (HttpServer::port() tells which)
  size_t max_body = size_t{1} << 20;
  double read_timeout = 10;   // seconds for a whole request to arrive
  double write_timeout = 30;  // seconds a single write may wait for the client
  double keep_alive = 5;      // seconds an idle persistent connection stays open; 0: none
  int max_connections = 64;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpConnection&)>;

class HttpServer {
 public:
  HttpServer(HttpOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; throws rt::Error naming the address.
  void Listen();
  int port() const { return port_; }
  // Accepts connections until Stop(), then closes the listening socket and waits for the
  // connections still open to finish.
  void Run();
  // Stops accepting, and closes connections that have sent nothing yet; callable from any
  // thread.
  void Stop();
  int open_connections() const { return open_.load(); }

 private:
  void Serve(int fd);
  // Reads and answers one request from `buffer` (bytes already read) and the socket; false
  // when the connection is to be closed after it.
  bool ServeOne(int fd, std::string& buffer, bool first);
  HttpOptions options_;
  HttpHandler handler_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> open_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable all_closed_;
};

// "OK", "Bad Request", ... for a status code.
const char* StatusText(int status);

}  // namespace lmc::serve
