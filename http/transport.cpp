#include "http/transport.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/socket.h>

#include "http/server.hpp"

namespace ogf::http {

namespace {

class plain_transport final : public transport {
public:
  explicit plain_transport(int fd) : fd_(fd) {}

  io_status handshake() override { return io_status::done; }

  io_result receive(char* buf, std::size_t size) override {
    for (;;) {
      auto n = ::recv(fd_, buf, size, MSG_DONTWAIT);
      if (n > 0)
        return {io_status::done, static_cast<std::size_t>(n)};
      if (n == 0)
        return {io_status::closed, 0};
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return {io_status::want_read, 0};
      return {io_status::failed, 0};
    }
  }

  io_result send(const char* buf, std::size_t size) override {
    for (;;) {
      auto n = ::send(fd_, buf, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0)
        return {io_status::done, static_cast<std::size_t>(n)};
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return {io_status::want_write, 0};
      return {io_status::failed, 0};
    }
  }

  std::size_t pending() const override { return 0; }
  void say_goodbye() override {}
  SSL* tls_session() const override { return nullptr; }

private:
  int fd_;
};

class tls_transport final : public transport {
public:
  explicit tls_transport(SSL* ssl) : ssl_(ssl) {}
  ~tls_transport() override { SSL_free(ssl_); }

  tls_transport(const tls_transport&) = delete;
  tls_transport& operator=(const tls_transport&) = delete;

  io_status handshake() override {
    if (established_)
      return io_status::done;
    if (broken_)
      return io_status::failed;
    ERR_clear_error();
    auto r = SSL_do_handshake(ssl_);
    if (r == 1) {
      established_ = true;
      return io_status::done;
    }
    auto status = classify(r);
    // A clean close during the handshake is a handshake that failed.
    return status == io_status::closed ? io_status::failed : status;
  }

  io_result receive(char* buf, std::size_t size) override {
    if (broken_)
      return {io_status::failed, 0};
    if (size == 0)
      return {io_status::done, 0};
    ERR_clear_error();
    auto r = SSL_read(ssl_, buf, clamp(size));
    if (r > 0)
      return {io_status::done, static_cast<std::size_t>(r)};
    return {classify(r), 0};
  }

  io_result send(const char* buf, std::size_t size) override {
    if (broken_)
      return {io_status::failed, 0};
    if (size == 0)
      return {io_status::done, 0};
    ERR_clear_error();
    // SSL_MODE_ENABLE_PARTIAL_WRITE: returns after one record when the
    // socket takes no more; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: the retry
    // after want_write may come from a buffer at another address.
    auto r = SSL_write(ssl_, buf, clamp(size));
    if (r > 0)
      return {io_status::done, static_cast<std::size_t>(r)};
    auto status = classify(r);
    return {status == io_status::closed ? io_status::failed : status, 0};
  }

  std::size_t pending() const override {
    auto n = SSL_pending(ssl_);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  void say_goodbye() override {
    if (!established_ || broken_ || goodbye_said_)
      return;
    goodbye_said_ = true;
    ERR_clear_error();
    // One non-blocking call: sends close_notify and does not wait for the
    // peer's (the connection is closed or drained raw afterwards).
    (void)SSL_shutdown(ssl_);
  }

  SSL* tls_session() const override { return ssl_; }

private:
  static int clamp(std::size_t size) {
    return static_cast<int>(std::min<std::size_t>(size, 1 << 30));
  }

  /// The status of a failed SSL_* call that returned `r`. After a fatal
  /// error OpenSSL forbids further calls on the session, SSL_shutdown
  /// included: the session is marked broken.
  io_status classify(int r) {
    switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      return io_status::want_read;
    case SSL_ERROR_WANT_WRITE:
      return io_status::want_write;
    case SSL_ERROR_ZERO_RETURN: // the peer's close_notify
      return io_status::closed;
    case SSL_ERROR_SYSCALL:
      broken_ = true;
      return io_status::failed;
    default:
      broken_ = true;
      return io_status::failed;
    }
  }

  SSL* ssl_;
  bool established_ = false;
  bool broken_ = false;
  bool goodbye_said_ = false;
};

/// OpenSSL's reason for the last failure on this thread, for messages.
std::string openssl_reason() {
  auto code = ERR_peek_error(); // the first: the cause, not its callers
  ERR_clear_error();
  if (code == 0)
    return "no details";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

/// Throws when `path` cannot be opened for reading (missing, no
/// permission), naming it as a `what` file.
void require_readable(const std::string& path, const char* what) {
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw tls_config_error(std::string{"TLS "} + what + " file '" + path +
                           "' cannot be read: " + std::strerror(errno));
  std::fclose(f);
}

/// An encrypted key would make OpenSSL prompt for a passphrase on the
/// terminal; serve has none to give, so it fails instead.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

} // namespace

std::unique_ptr<transport> make_plain_transport(int fd) {
  return std::make_unique<plain_transport>(fd);
}

std::unique_ptr<transport> make_tls_transport(int fd, SSL_CTX* ctx) {
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr)
    return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return std::make_unique<tls_transport>(ssl);
}

std::shared_ptr<SSL_CTX> make_tls_context(const std::string& cert_file,
                                          const std::string& key_file) {
  if (cert_file.empty() || key_file.empty())
    throw tls_config_error("TLS needs both a certificate file and a key file");
  require_readable(cert_file, "certificate");
  require_readable(key_file, "key");
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx{SSL_CTX_new(TLS_server_method()), SSL_CTX_free};
  if (!ctx)
    throw tls_config_error("cannot create a TLS context: " + openssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // No compression (CRIME), no renegotiation (a client-driven CPU cost and
  // a TLS 1.2 attack surface), the server's cipher order.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION |
                                     SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial writes and moving buffers: cpp-httplib retries a write with
  // what is left, from wherever it is. Released buffers: a parked
  // keep-alive connection keeps no 2 x 16 KiB of TLS buffers.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(ctx.get(), no_passphrase);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1)
    throw tls_config_error("TLS certificate file '" + cert_file +
                           "' holds no usable PEM certificate (" +
                           openssl_reason() + ")");
  std::unique_ptr<BIO, decltype(&BIO_free)> key_in{
      BIO_new_file(key_file.c_str(), "r"), BIO_free};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{
      key_in ? PEM_read_bio_PrivateKey(key_in.get(), nullptr, no_passphrase,
                                       nullptr)
             : nullptr,
      EVP_PKEY_free};
  if (!key)
    throw tls_config_error(
        "TLS key file '" + key_file + "' holds no usable PEM private key (" +
        openssl_reason() + "; encrypted keys are not supported)");
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    throw tls_config_error("TLS key file '" + key_file +
                           "' does not match the certificate in '" + cert_file +
                           "'");
  }
  return ctx;
}

} // namespace ogf::http
