#include "domain/api_key.hpp"

namespace ogf::domain {

const char* to_string(key_role r) {
  return r == key_role::read ? "read" : "write";
}

std::optional<key_role> parse_key_role(std::string_view text) {
  if (text == "read")
    return key_role::read;
  if (text == "write")
    return key_role::write;
  return std::nullopt;
}

} // namespace ogf::domain
