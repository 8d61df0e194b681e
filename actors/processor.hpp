// The default processor: the emissions calculator of domain/calculator.hpp
// behind the processor_actor interface. Pure CPU, runs on the scheduler.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

/// Spawns the built-in emissions calculator.
processor_actor spawn_emissions_processor(caf::actor_system& sys);

} // namespace ogf
