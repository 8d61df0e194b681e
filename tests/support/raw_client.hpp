// A plain TCP client for tests that must control every byte and every
// moment of a request (bursts released together, bodies trickled a byte at
// a time), which an HTTP client library hides.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ogf::testing {

/// A connection to 127.0.0.1:port; closed when destroyed.
class raw_client {
public:
  /// Connects; ok() says whether it worked.
  explicit raw_client(int port);
  raw_client(raw_client&& other) noexcept;
  raw_client& operator=(raw_client&& other) noexcept;
  ~raw_client();

  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  /// Sends all of `bytes`; false when the server closed or reset.
  bool send_all(std::string_view bytes);

  /// Reads until an answer's head has arrived (and, when it announces a
  /// Content-Length, its body), the server closed, or `timeout` passed;
  /// returns everything read so far on this connection.
  std::string read_answer(std::chrono::milliseconds timeout);

  /// Waits up to `timeout` for the server to close the connection (reading
  /// and dropping what it sends); true when it did.
  bool wait_closed(std::chrono::milliseconds timeout);

  /// Closes now.
  void close();

private:
  int fd_ = -1;
  std::string in_;
};

/// The status code of a raw HTTP/1.1 answer, 0 when there is none.
int status_of(const std::string& answer);

/// The value of header `name` (case-insensitive) in a raw answer's head;
/// empty when absent.
std::string header_of(const std::string& answer, std::string_view name);

/// The body of a raw answer (what follows the head).
std::string body_of(const std::string& answer);

} // namespace ogf::testing
