// The unit table as the fuzzer's unit check, in a TU of its own (like
// http/unit_check.cpp: units.hpp and validation.hpp both define
// ogf::domain::max_decimal_digits).
#include <string_view>

#include "domain/units.hpp"

namespace ogf::fuzz {

bool is_known_unit(std::string_view unit) {
  return domain::find_unit(unit) != nullptr;
}

} // namespace ogf::fuzz
