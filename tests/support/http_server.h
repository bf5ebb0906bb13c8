// A tiny HTTP/1.1 server on 127.0.0.1 for tests that download: it serves canned
// responses from memory on an OS-chosen port, one connection at a time, in a
// background thread that lives as long as the object.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vitfeat::test {

struct HttpResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // sent after the standard ones
  // Content-Length to announce instead of body.size(); announcing more than is
  // sent simulates a connection dropped mid-transfer.
  std::optional<uint64_t> declared_length;
  // Seconds to hold the connection open, sending nothing, after the body: a
  // stalled server. The server stops early when it is destroyed.
  double stall_seconds = 0;
};

struct HttpRequest {
  std::string method;
  std::string path;                            // the request target, query string included
  std::map<std::string, std::string> headers;  // names in lower case
};

class HttpServer {
 public:
  // Throws std::runtime_error when it cannot listen.
  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>", without a trailing slash.
  std::string url() const;

  // Answers GET <path> (query string ignored) with response; anything else gets 404.
  void serve(const std::string& path, HttpResponse response);
  // Answers the requests for path with responses in turn; the last one repeats.
  void serveInTurn(const std::string& path, std::vector<HttpResponse> responses);
  // Every request received so far, in order.
  std::vector<HttpRequest> requests() const;
  std::vector<std::string> requestedPaths() const;

 private:
  void run();
  void handle(int client);
  HttpResponse responseFor(const std::string& path);
  void stall(double seconds) const;

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;  // guards routes_ and requests_
  std::map<std::string, std::deque<HttpResponse>> routes_;
  std::vector<HttpRequest> requests_;
  std::thread thread_;
};

}  // namespace vitfeat::test
