// The batch status machine: which status changes are allowed, and what the
// user actions (cancel, retry, delete) do in each status. The engine's store
// and workers ask this table instead of spelling out status lists of their
// own, so CONTRACT §2 "Batch lifecycle" is written down exactly once.
#pragma once

#include <vector>

#include "domain/model.hpp"

namespace ogf::domain {

/// One allowed status change and what causes it (for docs and diagrams).
struct batch_transition {
  batch_status from;
  batch_status to;
  const char* cause; ///< short human text, e.g. "claim"
};

/// Every allowed status change, one row per (from, to) pair. Anything not in
/// this table, including staying in the same status, is refused.
const std::vector<batch_transition>& batch_transitions();

/// True when `from -> to` is a row of batch_transitions().
bool is_allowed_transition(batch_status from, batch_status to);

/// The statuses a batch may be in to move to `to`, in enum order (for the
/// `WHERE status IN (...)` guard of a conditional update).
std::vector<batch_status> allowed_sources(batch_status to);

/// What POST /batches/{id}/cancel does in a given status.
enum class cancel_outcome {
  cancelled_now,    ///< pending or queued: cancelled at once (200)
  cancel_requested, ///< processing: the worker is asked to stop (202)
  invalid_state,    ///< terminal: nothing to cancel (409 invalid_state)
};

/// Decides the cancel action from the batch's current status.
cancel_outcome decide_cancel(batch_status s);

/// True when POST /batches/{id}/retry is allowed: failed or cancelled.
bool can_retry(batch_status s);

/// True when DELETE /batches/{id} is allowed: pending or terminal. A queued or
/// processing batch is held by a node and must be cancelled first.
bool can_delete(batch_status s);

} // namespace ogf::domain
