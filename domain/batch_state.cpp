#include "domain/batch_state.hpp"

namespace ogf::domain {

namespace {

using bs = batch_status;

// The one table. A batch leaves pending/queued/processing for failed when it
// lost its lease more than max_retries times: the reaper that notices may find
// it in any non-terminal status, hence three rows for that cause.
const std::vector<batch_transition> table{
    {bs::pending, bs::queued, "claim: a node takes the lease"},
    {bs::pending, bs::cancelled, "cancel"},
    {bs::pending, bs::failed, "lease lost more than max_retries times"},
    {bs::queued, bs::processing, "start: a worker begins"},
    {bs::queued, bs::pending, "release (shutdown) or lease expired"},
    {bs::queued, bs::cancelled, "cancel"},
    {bs::queued, bs::failed, "lease lost more than max_retries times"},
    {bs::processing, bs::pending,
     "release (shutdown) or lease expired; claimable again after backoff"},
    {bs::processing, bs::completed, "every activity succeeded"},
    {bs::processing, bs::failed,
     "an activity failed, a fatal error, or lease lost more than max_retries "
     "times"},
    {bs::processing, bs::cancelled, "cancel requested and honoured"},
    {bs::failed, bs::pending, "retry"},
    {bs::cancelled, bs::pending, "retry"},
};

} // namespace

const std::vector<batch_transition>& batch_transitions() {
  return table;
}

bool is_allowed_transition(batch_status from, batch_status to) {
  for (const auto& t : table)
    if (t.from == from && t.to == to)
      return true;
  return false;
}

std::vector<batch_status> allowed_sources(batch_status to) {
  std::vector<batch_status> result;
  for (auto s : {bs::pending, bs::queued, bs::processing, bs::completed,
                 bs::failed, bs::cancelled})
    if (is_allowed_transition(s, to))
      result.push_back(s);
  return result;
}

cancel_outcome decide_cancel(batch_status s) {
  switch (s) {
  case bs::pending:
  case bs::queued:
    return cancel_outcome::cancelled_now;
  case bs::processing:
    return cancel_outcome::cancel_requested;
  case bs::completed:
  case bs::failed:
  case bs::cancelled:
    break;
  }
  return cancel_outcome::invalid_state;
}

bool can_retry(batch_status s) {
  return s == bs::failed || s == bs::cancelled;
}

bool can_delete(batch_status s) {
  return s == bs::pending || is_terminal(s);
}

} // namespace ogf::domain
