#include "domain/model.hpp"

#include <array>
#include <utility>

namespace ogf::domain {

namespace {

constexpr std::array<std::pair<batch_status, const char*>, 6> batch_names{{
  {batch_status::pending, "pending"},
  {batch_status::queued, "queued"},
  {batch_status::processing, "processing"},
  {batch_status::completed, "completed"},
  {batch_status::failed, "failed"},
  {batch_status::cancelled, "cancelled"},
}};

constexpr std::array<std::pair<item_status, const char*>, 3> item_names{{
  {item_status::pending, "pending"},
  {item_status::succeeded, "succeeded"},
  {item_status::failed, "failed"},
}};

} // namespace

const char* to_string(batch_status s) {
  for (const auto& [value, name] : batch_names)
    if (value == s)
      return name;
  return "unknown";
}

const char* to_string(item_status s) {
  for (const auto& [value, name] : item_names)
    if (value == s)
      return name;
  return "unknown";
}

std::optional<batch_status> parse_batch_status(std::string_view text) {
  for (const auto& [value, name] : batch_names)
    if (text == name)
      return value;
  return std::nullopt;
}

std::optional<item_status> parse_item_status(std::string_view text) {
  for (const auto& [value, name] : item_names)
    if (text == name)
      return value;
  return std::nullopt;
}

bool is_terminal(batch_status s) {
  return s == batch_status::completed || s == batch_status::failed
         || s == batch_status::cancelled;
}

} // namespace ogf::domain
