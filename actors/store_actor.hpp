// Store actors: detached (blocking libpqxx calls never run on CAF's
// cooperative scheduler), one connection and one batch_store each.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"
#include "persistence/batch_store.hpp"

namespace ogf {

/// Spawns one detached store actor. It connects lazily; while the database
/// is unreachable it answers `unavailable` and reconnects with exponential
/// backoff (100 ms doubling to 5 s) — it never crashes the engine.
store_actor spawn_store(caf::actor_system& sys, persistence::store_config cfg);

} // namespace ogf
