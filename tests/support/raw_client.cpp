#include "support/raw_client.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ogf::testing {

namespace {

using steady = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Milliseconds left until `deadline`, at least 0.
int left_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - steady::now());
  return static_cast<int>(std::max<long>(0, left.count()));
}

} // namespace

raw_client::raw_client(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ >= 0 &&
      ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    close();
}

raw_client::raw_client(raw_client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), in_(std::move(other.in_)) {}

raw_client& raw_client::operator=(raw_client&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(in_, other.in_);
  return *this;
}

raw_client::~raw_client() {
  close();
}

void raw_client::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

bool raw_client::send_all(std::string_view bytes) {
  while (!bytes.empty()) {
    if (fd_ < 0)
      return false;
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string raw_client::read_answer(std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  while (fd_ >= 0) {
    if (auto end = in_.find("\r\n\r\n"); end != std::string::npos) {
      auto length = header_of(in_, "Content-Length");
      if (length.empty() || in_.size() >= end + 4 + std::stoul(length))
        break;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left_ms(deadline)) <= 0)
      break;
    char buf[8192];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    in_.append(buf, static_cast<std::size_t>(n));
  }
  return in_;
}

bool raw_client::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  while (fd_ >= 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left_ms(deadline)) <= 0)
      return false;
    char buf[8192];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0)
      return true;
    in_.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

int status_of(const std::string& answer) {
  if (answer.rfind("HTTP/1.", 0) != 0 || answer.size() < 12)
    return 0;
  try {
    return std::stoi(answer.substr(9, 3));
  } catch (...) {
    return 0;
  }
}

std::string header_of(const std::string& answer, std::string_view name) {
  auto head = lower(answer.substr(0, answer.find("\r\n\r\n")));
  auto at = head.find("\r\n" + lower(name) + ":");
  if (at == std::string::npos)
    return {};
  auto start = at + 2 + name.size() + 1;
  auto end = std::min(head.find("\r\n", start), head.size());
  auto value = answer.substr(start, end - start);
  auto first = value.find_first_not_of(" \t");
  auto last = value.find_last_not_of(" \t");
  return first == std::string::npos ? std::string{}
                                    : value.substr(first, last - first + 1);
}

std::string body_of(const std::string& answer) {
  auto end = answer.find("\r\n\r\n");
  return end == std::string::npos ? std::string{} : answer.substr(end + 4);
}

} // namespace ogf::testing
