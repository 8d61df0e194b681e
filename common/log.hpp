// One JSON object per line on stderr: {"ts", "level", "msg", ...fields}.
// Thread-safe; small on purpose (CONTRACT §1 asks for nothing more).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ogf::log {

enum class level { debug, info, warn, error };

/// Messages below this level are dropped. Default: info.
void set_level(level min);

/// Writes one line; `fields` must be a JSON object (or null).
void write(level lvl, const std::string& msg,
           const nlohmann::json& fields = nullptr);

inline void info(const std::string& msg, const nlohmann::json& f = nullptr) {
  write(level::info, msg, f);
}
inline void warn(const std::string& msg, const nlohmann::json& f = nullptr) {
  write(level::warn, msg, f);
}
inline void error(const std::string& msg, const nlohmann::json& f = nullptr) {
  write(level::error, msg, f);
}
inline void debug(const std::string& msg, const nlohmann::json& f = nullptr) {
  write(level::debug, msg, f);
}

} // namespace ogf::log
