// The bytes of one client connection, plain or TLS (internal to http/).
//
// The connection gate (http/connection_gate.hpp) moves connections between
// one epoll thread and its workers and never blocks on a socket: every step
// here is non-blocking and, when it cannot go on, says whether it waits for
// the socket to become readable or writable. The caller polls (workers) or
// lets epoll wake it (the epoll thread). With TLS:
//
// * the handshake is driven in steps too (SSL_do_handshake on a
//   non-blocking socket), so that a slow or silent client holds no thread;
// * a read may want the socket writable and a write may want it readable
//   (TLS 1.3 key updates): the wait is whatever the step asks for;
// * bytes TLS already decrypted (pending()) are invisible to poll and
//   epoll: callers look at pending() before waiting for the socket.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/ssl.h>

namespace ogf::http {

/// What a non-blocking step did.
enum class io_status {
  done,       ///< complete; `bytes` moved (0 only for an empty write)
  want_read,  ///< cannot go on until the socket is readable
  want_write, ///< cannot go on until the socket is writable
  closed,     ///< the peer ended the connection cleanly (reads only)
  failed      ///< broken: reset, a TLS error, a handshake refused
};

/// A step's status and the bytes it moved.
struct io_result {
  io_status status = io_status::failed;
  std::size_t bytes = 0;
};

/// The transport of one connection. Owned, like the connection, by one
/// thread at a time; it never closes the socket itself.
class transport {
public:
  virtual ~transport() = default;

  /// Continues the TLS handshake: done once it is complete (at once for
  /// plain connections).
  virtual io_status handshake() = 0;

  /// Reads up to `size` bytes without waiting.
  virtual io_result receive(char* buf, std::size_t size) = 0;

  /// Writes up to `size` bytes without waiting; may write fewer.
  virtual io_result send(const char* buf, std::size_t size) = 0;

  /// Bytes received and decrypted but not read yet, which poll and epoll
  /// do not see. Always 0 for plain connections.
  virtual std::size_t pending() const = 0;

  /// Tells the peer that nothing more will be sent at this level (a TLS
  /// close_notify alert), best effort and without waiting; nothing for
  /// plain connections. The caller shuts the socket down afterwards.
  virtual void say_goodbye() = 0;

  /// The TLS session, for cpp-httplib's Request::ssl; null when plain.
  virtual SSL* tls_session() const = 0;
};

/// The socket itself.
std::unique_ptr<transport> make_plain_transport(int fd);

/// TLS on `fd` (which must be non-blocking), server side, with `ctx`.
/// Null when OpenSSL cannot create the session (out of memory).
std::unique_ptr<transport> make_tls_transport(int fd, SSL_CTX* ctx);

/// A server TLS context with this project's settings: TLS 1.2 or newer, no
/// compression, no renegotiation, partial writes, buffers released while a
/// connection is idle; the certificate chain and private key loaded from
/// PEM files (the certificate first, then intermediates). Throws
/// tls_config_error (http/server.hpp), naming the file, when a file cannot
/// be read, holds no PEM certificate or unencrypted PEM key, or the key
/// does not belong to the certificate.
std::shared_ptr<SSL_CTX> make_tls_context(const std::string& cert_file,
                                          const std::string& key_file);

} // namespace ogf::http
