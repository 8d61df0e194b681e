// The lease renewer: every lease_timeout / 3 renews all leases of this node
// in one statement, tells the owning worker at once when a lease is lost or
// its batch asks to be cancelled, and upserts this node's heartbeat row.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

struct renewer_config {
  caf::timespan lease_timeout = std::chrono::seconds(30);
  std::string host;
  std::int32_t pid = 0;
  std::string version;
};

renewer_actor spawn_renewer(caf::actor_system& sys, store_actor store,
                            renewer_config cfg);

} // namespace ogf
