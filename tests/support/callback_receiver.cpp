#include "support/callback_receiver.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace ogf::testing {

callback_receiver::callback_receiver() {
  server_.new_task_queue = [] { return new httplib::ThreadPool(4); };
  server_.Post(".*",
               [this](const httplib::Request& req, httplib::Response& res) {
                 received_callback r{req.path,
                                     req.get_header_value("Host"),
                                     req.get_header_value("Content-Type"),
                                     req.get_header_value("X-OGF-Event"),
                                     req.get_header_value("X-OGF-Delivery"),
                                     req.get_header_value("X-OGF-Signature"),
                                     req.body};
                 callback_answer answer;
                 {
                   std::lock_guard<std::mutex> guard{mutex_};
                   std::size_t n = 0;
                   for (const auto& earlier : received_)
                     n += earlier.path == req.path ? 1 : 0;
                   received_.push_back(r);
                   if (answer_)
                     answer = answer_(req.path, n);
                 }
                 auto until = std::chrono::steady_clock::now() + answer.delay;
                 while (!released_ && std::chrono::steady_clock::now() < until)
                   std::this_thread::sleep_for(std::chrono::milliseconds(10));
                 res.status = answer.status;
                 res.set_content("{}", "application/json");
               });
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  while (!server_.is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

callback_receiver::~callback_receiver() {
  release();
  server_.stop();
  if (thread_.joinable())
    thread_.join();
}

std::string callback_receiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void callback_receiver::answer_with(
    std::function<callback_answer(const std::string&, std::size_t)> f) {
  std::lock_guard<std::mutex> guard{mutex_};
  answer_ = std::move(f);
}

std::vector<received_callback> callback_receiver::received() {
  std::lock_guard<std::mutex> guard{mutex_};
  return received_;
}

std::vector<received_callback>
callback_receiver::received(const std::string& path) {
  std::vector<received_callback> out;
  for (auto& r : received())
    if (r.path == path)
      out.push_back(r);
  return out;
}

void callback_receiver::release() {
  released_ = true;
}

std::string expected_signature(const std::string& secret,
                               const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
       &len);
  std::string out = "sha256=";
  char hex[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", mac[i]);
    out += hex;
  }
  return out;
}

} // namespace ogf::testing
