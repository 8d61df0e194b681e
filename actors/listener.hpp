// The listener: a detached actor with its own connection doing LISTEN on
// the batches channel; wakes the poller on each notification (submit,
// retry, release), and once more 50 ms after the last of a burst (the store
// coalesces NOTIFYs). It also passes cancel requests of processing batches
// (NOTIFY ogf_cancel, from any node) to the poller, which stops the worker
// holding one within a chunk step. If the connection drops it reconnects every second,
// and meanwhile the poller's timer still finds the work.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

listener_actor spawn_listener(caf::actor_system& sys, std::string database_url,
                          poller_actor poller);

} // namespace ogf
