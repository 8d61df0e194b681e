#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "domain/time.hpp"

namespace ogf::log {

namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};
std::mutex out_mutex;

const char* name(level l) {
  switch (l) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}

} // namespace

void set_level(level min) {
  min_level = static_cast<int>(min);
}

void write(level lvl, const std::string& msg, const nlohmann::json& fields) {
  if (static_cast<int>(lvl) < min_level.load())
    return;
  nlohmann::json line = {{"ts", domain::format_rfc3339_ms(domain::now_us())}, {"level", name(lvl)},
                         {"msg", msg}};
  if (fields.is_object())
    for (auto it = fields.begin(); it != fields.end(); ++it)
      line[it.key()] = it.value();
  auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> guard{out_mutex};
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

} // namespace ogf::log
