#include "support/tls_client.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/process.hpp"
#include "support/raw_client.hpp"

namespace ogf::testing {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

test_certificate make_test_certificate(const fs::path& dir,
                                       const std::string& name) {
  test_certificate made{dir / (name + "-cert.pem"), dir / (name + "-key.pem")};
  child_process openssl(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", made.key.string(),
       "-out", made.cert.string(), "-days", "2", "-subj", "/CN=127.0.0.1",
       "-addext", "subjectAltName=IP:127.0.0.1"},
      {}, (dir / (name + "-openssl.log")).string());
  auto code = openssl.wait(std::chrono::seconds(30));
  INFO(openssl.output());
  REQUIRE(code == 0);
  REQUIRE(fs::exists(made.cert));
  REQUIRE(fs::exists(made.key));
  return made;
}

tls_connection::tls_connection(int port, const fs::path& ca, int max_version) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return;
  timeval tv{10, 0}; // the handshake: bounded
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (max_version != 0) {
    // Debian's default security level forbids TLS 1.1 on the client
    // before it reaches the server; the server is what is tested.
    SSL_CTX_set_security_level(ctx_, 0);
    SSL_CTX_set_min_proto_version(ctx_, 0);
    SSL_CTX_set_max_proto_version(ctx_, max_version);
  }
  SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd_);
  SSL_set1_host(ssl, "127.0.0.1");
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    return;
  }
  ssl_ = ssl;
}

tls_connection::~tls_connection() {
  if (ssl_ != nullptr)
    SSL_free(ssl_);
  if (ctx_ != nullptr)
    SSL_CTX_free(ctx_);
  if (fd_ >= 0)
    ::close(fd_);
}

bool tls_connection::send_all(const std::string& bytes) {
  if (ssl_ == nullptr)
    return false;
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = SSL_write(ssl_, bytes.data() + sent,
                       static_cast<int>(bytes.size() - sent));
    if (n <= 0)
      return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool tls_connection::read_some(std::chrono::milliseconds timeout) {
  if (ssl_ == nullptr || closed_)
    return false;
  if (SSL_pending(ssl_) == 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long>(0, timeout.count()))) <=
        0)
      return false;
  }
  char buf[8192];
  auto n = SSL_read(ssl_, buf, sizeof buf);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  in_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::string tls_connection::read_answers(int answers,
                                         std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  while (count_answers(in_) < answers) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - steady::now());
    if (left.count() <= 0 || !read_some(left))
      break;
  }
  return in_;
}

bool tls_connection::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  while (!closed_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - steady::now());
    if (left.count() <= 0)
      return false;
    read_some(left);
  }
  return true;
}

int count_answers(const std::string& raw) {
  int count = 0;
  std::size_t at = 0;
  for (;;) {
    auto end = raw.find("\r\n\r\n", at);
    if (raw.compare(at, 7, "HTTP/1.") != 0 || end == std::string::npos)
      return count;
    auto head = raw.substr(at, end + 4 - at);
    auto length = header_of(head, "Content-Length");
    auto next = end + 4 + (length.empty() ? 0 : std::stoul(length));
    if (raw.size() < next)
      return count;
    ++count;
    at = next;
  }
}

} // namespace ogf::testing
