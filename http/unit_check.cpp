// The unit table as the validators' unit check. A TU of its own:
// domain/decimal.hpp (via units.hpp) and domain/validation.hpp both define
// ogf::domain::max_decimal_digits, so the two cannot share a TU.
#include "domain/units.hpp"

namespace ogf::http {

bool is_known_unit(std::string_view unit) {
  return domain::find_unit(unit) != nullptr;
}

} // namespace ogf::http
