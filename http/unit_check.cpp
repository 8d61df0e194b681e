// The unit table as the validators' unit check.
#include "domain/units.hpp"

namespace ogf::http {

bool is_known_unit(std::string_view unit) {
  return domain::find_unit(unit) != nullptr;
}

} // namespace ogf::http
