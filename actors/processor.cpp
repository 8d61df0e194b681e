#include "actors/processor.hpp"

#include <caf/all.hpp>

namespace ogf {

namespace {

processor_actor::behavior_type emissions_processor() {
  return {
    [](compute_atom, const std::vector<domain::resolved_activity>& chunk) {
      return domain::calculate_chunk(chunk);
    },
  };
}

} // namespace

processor_actor spawn_emissions_processor(caf::actor_system& sys) {
  return sys.spawn(emissions_processor);
}

} // namespace ogf
