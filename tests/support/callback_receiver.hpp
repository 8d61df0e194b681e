// A webhook receiver for the completion-callback tests: a real HTTP server
// on 127.0.0.1 (ephemeral port) that records every request and answers as
// the test tells it to (a status, after an optional delay).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace ogf::testing {

/// One request the receiver got.
struct received_callback {
  std::string path;
  std::string host;
  std::string content_type;
  std::string event;
  std::string delivery_id;
  std::string signature;
  std::string body;
};

/// How to answer: a status, sent after `delay`.
struct callback_answer {
  int status = 200;
  std::chrono::milliseconds delay{0};
};

class callback_receiver {
public:
  callback_receiver();
  ~callback_receiver();
  callback_receiver(const callback_receiver&) = delete;
  callback_receiver& operator=(const callback_receiver&) = delete;

  int port() const { return port_; }
  /// http://127.0.0.1:<port><path>
  std::string url(const std::string& path = "/hook") const;

  /// Decides each answer from the request's path and how many requests to
  /// that path came before it (0 for the first). Default: 200 at once.
  void answer_with(
      std::function<callback_answer(const std::string& path, std::size_t n)> f);

  /// Requests received so far (a request is recorded when it arrives,
  /// before its answer).
  std::vector<received_callback> received();
  /// Those to one path.
  std::vector<received_callback> received(const std::string& path);

  /// Makes every delayed answer in progress and to come return at once.
  void release();

private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::vector<received_callback> received_;
  std::function<callback_answer(const std::string&, std::size_t)> answer_;
  std::atomic<bool> released_{false};
};

/// "sha256=<hex>" of HMAC-SHA256(secret, body), computed here with OpenSSL
/// independently of the engine's code.
std::string expected_signature(const std::string& secret,
                               const std::string& body);

} // namespace ogf::testing
