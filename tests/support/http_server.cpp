#include "tests/support/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace vitfeat::test {
namespace {

// A request head larger than this is refused: tests send a few hundred bytes.
constexpr size_t kMaxHead = 64 * 1024;
// How long a silent client is waited for, so a stuck test cannot hang the server.
constexpr int kClientTimeoutSeconds = 5;
// How often the accept loop checks whether it should stop.
constexpr int kPollMilliseconds = 50;

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

// Reads until the blank line that ends the head; recv may return it in pieces.
// Returns "" when the client goes away, times out or sends too much.
std::string readHead(int fd) {
  std::string data;
  char buffer[4096];
  while (data.find("\r\n\r\n") == std::string::npos) {
    if (data.size() > kMaxHead) return "";
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    data.append(buffer, static_cast<size_t>(n));
  }
  return data.substr(0, data.find("\r\n\r\n"));
}

std::optional<HttpRequest> parseHead(const std::string& head) {
  std::istringstream lines(head);
  std::string line;
  if (!std::getline(lines, line)) return std::nullopt;
  std::istringstream requestLine(trim(line));
  HttpRequest request;
  std::string version;
  if (!(requestLine >> request.method >> request.path >> version)) return std::nullopt;
  while (std::getline(lines, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    request.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return request;
}

bool sendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    // MSG_NOSIGNAL: a client that hung up must not kill the test with SIGPIPE.
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string renderResponse(const HttpResponse& response, bool withBody) {
  const uint64_t length = response.declared_length.value_or(response.body.size());
  std::string out =
      "HTTP/1.1 " + std::to_string(response.status) + " " + reasonPhrase(response.status) + "\r\n";
  out += "Content-Length: " + std::to_string(length) + "\r\n";
  out += "Connection: close\r\n";
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  if (withBody) out += response.body;
  return out;
}

}  // namespace

HttpServer::HttpServer() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;  // the OS picks a free port: tests may run in parallel
  socklen_t size = sizeof(address);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    const std::string error = std::strerror(errno);
    ::close(listener_);
    throw std::runtime_error("cannot listen on 127.0.0.1: " + error);
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

HttpServer::~HttpServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listener_);
}

std::string HttpServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void HttpServer::serve(const std::string& path, HttpResponse response) {
  const std::lock_guard<std::mutex> lock(mutex_);
  routes_[path] = {std::move(response)};
}

void HttpServer::serveInTurn(const std::string& path, std::vector<HttpResponse> responses) {
  const std::lock_guard<std::mutex> lock(mutex_);
  routes_[path] = std::deque<HttpResponse>(responses.begin(), responses.end());
}

std::vector<HttpRequest> HttpServer::requests() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::vector<std::string> HttpServer::requestedPaths() const {
  std::vector<std::string> paths;
  for (const auto& request : requests()) paths.push_back(request.path);
  return paths;
}

HttpResponse HttpServer::responseFor(const std::string& target) {
  const std::string path = target.substr(0, target.find('?'));
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = routes_.find(path);
  if (it != routes_.end() && !it->second.empty()) {
    HttpResponse response = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return response;
  }
  return HttpResponse{404, "not found: " + path, {}, std::nullopt};
}

void HttpServer::run() {
  // Polling with a timeout rather than blocking in accept() lets the destructor
  // stop the thread without tricks on the listening socket.
  while (!stop_) {
    pollfd waiting{listener_, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, kPollMilliseconds);
    if (ready <= 0) continue;  // timeout, or EINTR
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    handle(client);
    ::close(client);
  }
}

void HttpServer::stall(double seconds) const {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!stop_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void HttpServer::handle(int client) {
  timeval timeout{kClientTimeoutSeconds, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));

  const auto request = parseHead(readHead(client));
  if (!request) {
    sendAll(client, renderResponse(HttpResponse{400, "bad request", {}, std::nullopt}, true));
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(*request);
  }
  const HttpResponse response = request->method == "GET" || request->method == "HEAD"
                                    ? responseFor(request->path)
                                    : HttpResponse{405, "method not allowed", {}, std::nullopt};
  sendAll(client, renderResponse(response, request->method != "HEAD"));
  if (response.stall_seconds > 0) stall(response.stall_seconds);
  // Half-close, then wait for the client to close: closing a socket with unread
  // input sends a reset, which can destroy response data still in flight.
  ::shutdown(client, SHUT_WR);
  char sink[1024];
  while (::recv(client, sink, sizeof(sink), 0) > 0) {
  }
}

}  // namespace vitfeat::test
