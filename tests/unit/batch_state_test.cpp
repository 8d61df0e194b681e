#include "domain/batch_state.hpp"

#include <set>
#include <utility>

#include <catch2/catch.hpp>

using namespace ogf::domain;

namespace {

constexpr batch_status all_statuses[] = {
    batch_status::pending,   batch_status::queued, batch_status::processing,
    batch_status::completed, batch_status::failed, batch_status::cancelled,
};

using bs = batch_status;

// Written out independently of the production table: the lifecycle of
// CONTRACT §2 as (from, to) pairs.
const std::set<std::pair<bs, bs>> expected_allowed{
    {bs::pending, bs::queued},       {bs::queued, bs::processing},
    {bs::queued, bs::pending},       {bs::processing, bs::pending},
    {bs::processing, bs::completed}, {bs::processing, bs::failed},
    {bs::processing, bs::cancelled}, {bs::pending, bs::cancelled},
    {bs::queued, bs::cancelled},     {bs::pending, bs::failed},
    {bs::queued, bs::failed},        {bs::failed, bs::pending},
    {bs::cancelled, bs::pending},
};

} // namespace

TEST_CASE("every status pair is allowed exactly when the lifecycle says so") {
  int allowed = 0;
  for (auto from : all_statuses) {
    for (auto to : all_statuses) {
      INFO(to_string(from) << " -> " << to_string(to));
      bool want = expected_allowed.count({from, to}) > 0;
      CHECK(is_allowed_transition(from, to) == want);
      allowed += want ? 1 : 0;
    }
  }
  CHECK(allowed == 13);
}

TEST_CASE("the transition table has one row per pair and a cause for each") {
  std::set<std::pair<bs, bs>> seen;
  for (const auto& t : batch_transitions()) {
    CHECK(seen.insert({t.from, t.to}).second);
    REQUIRE(t.cause != nullptr);
    CHECK(std::string(t.cause).size() > 0);
  }
  CHECK(seen == expected_allowed);
}

TEST_CASE("no status may transition to itself and completed is final") {
  for (auto s : all_statuses) {
    CHECK_FALSE(is_allowed_transition(s, s));
    CHECK_FALSE(is_allowed_transition(bs::completed, s));
  }
}

TEST_CASE("allowed sources list the statuses a batch may come from") {
  CHECK(allowed_sources(bs::pending) ==
        std::vector<bs>{bs::queued, bs::processing, bs::failed, bs::cancelled});
  CHECK(allowed_sources(bs::queued) == std::vector<bs>{bs::pending});
  CHECK(allowed_sources(bs::processing) == std::vector<bs>{bs::queued});
  CHECK(allowed_sources(bs::completed) == std::vector<bs>{bs::processing});
  CHECK(allowed_sources(bs::failed) ==
        std::vector<bs>{bs::pending, bs::queued, bs::processing});
  CHECK(allowed_sources(bs::cancelled) ==
        std::vector<bs>{bs::pending, bs::queued, bs::processing});
}

TEST_CASE("cancel is immediate when pending or queued, requested when "
          "processing and refused when terminal") {
  CHECK(decide_cancel(bs::pending) == cancel_outcome::cancelled_now);
  CHECK(decide_cancel(bs::queued) == cancel_outcome::cancelled_now);
  CHECK(decide_cancel(bs::processing) == cancel_outcome::cancel_requested);
  CHECK(decide_cancel(bs::completed) == cancel_outcome::invalid_state);
  CHECK(decide_cancel(bs::failed) == cancel_outcome::invalid_state);
  CHECK(decide_cancel(bs::cancelled) == cancel_outcome::invalid_state);
}

TEST_CASE("retry is allowed only for failed and cancelled batches") {
  CHECK_FALSE(can_retry(bs::pending));
  CHECK_FALSE(can_retry(bs::queued));
  CHECK_FALSE(can_retry(bs::processing));
  CHECK_FALSE(can_retry(bs::completed));
  CHECK(can_retry(bs::failed));
  CHECK(can_retry(bs::cancelled));
}

TEST_CASE("delete is allowed for pending and terminal batches only") {
  CHECK(can_delete(bs::pending));
  CHECK_FALSE(can_delete(bs::queued));
  CHECK_FALSE(can_delete(bs::processing));
  CHECK(can_delete(bs::completed));
  CHECK(can_delete(bs::failed));
  CHECK(can_delete(bs::cancelled));
}

TEST_CASE("user actions agree with the transition table") {
  for (auto s : all_statuses) {
    INFO(to_string(s));
    // Cancelling now is a direct move to cancelled.
    if (decide_cancel(s) == cancel_outcome::cancelled_now)
      CHECK(is_allowed_transition(s, bs::cancelled));
    // A retry moves a terminal batch back to pending.
    CHECK(can_retry(s) ==
          (is_terminal(s) && is_allowed_transition(s, bs::pending)));
  }
}
