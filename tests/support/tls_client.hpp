// TLS for tests: a self-signed certificate made by the openssl command line,
// and a TLS client that controls every byte it sends (pipelined requests,
// oversized heads, heads that stop half-way), which an HTTP client library
// hides.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include <openssl/ssl.h>

namespace ogf::testing {

/// A certificate file and its unencrypted key file.
struct test_certificate {
  std::filesystem::path cert;
  std::filesystem::path key;
};

/// Makes a self-signed EC certificate for IP 127.0.0.1 (subjectAltName),
/// valid for 2 days, as `<name>-cert.pem` and `<name>-key.pem` in `dir`,
/// with /usr/bin/openssl. Fails the test when it cannot.
test_certificate make_test_certificate(const std::filesystem::path& dir,
                                       const std::string& name);

/// A TLS connection to 127.0.0.1:port that verifies the server against
/// `ca`; closed when destroyed.
class tls_connection {
public:
  /// Connects and completes the handshake; ok() says whether it worked.
  /// `max_version` (e.g. TLS1_1_VERSION) caps the versions offered; 0
  /// offers OpenSSL's defaults.
  tls_connection(int port, const std::filesystem::path& ca,
                 int max_version = 0);
  ~tls_connection();

  tls_connection(const tls_connection&) = delete;
  tls_connection& operator=(const tls_connection&) = delete;

  bool ok() const { return ssl_ != nullptr; }

  /// Sends all of `bytes` (in as few TLS records as OpenSSL makes);
  /// false when the connection broke.
  bool send_all(const std::string& bytes);

  /// Reads until `answers` complete answers (head plus Content-Length
  /// body) arrived, the server closed, or `timeout` passed; returns all
  /// read so far.
  std::string read_answers(int answers, std::chrono::milliseconds timeout);

  /// Whether the server closed (or reset) the connection within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);

private:
  /// One read of at most `timeout`; false at close, error or timeout.
  bool read_some(std::chrono::milliseconds timeout);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string in_;
  bool closed_ = false;
};

/// Complete HTTP/1.1 answers (head plus Content-Length body) at the start
/// of `raw`.
int count_answers(const std::string& raw);

} // namespace ogf::testing
