#include "domain/model.hpp"

#include <catch2/catch.hpp>

using namespace ogf::domain;

TEST_CASE("batch status names round-trip and unknown names are refused") {
  for (auto s : {batch_status::pending, batch_status::queued,
                 batch_status::processing, batch_status::completed,
                 batch_status::failed, batch_status::cancelled}) {
    auto parsed = parse_batch_status(to_string(s));
    REQUIRE(parsed);
    CHECK(*parsed == s);
  }
  CHECK_FALSE(parse_batch_status("Pending"));
  CHECK_FALSE(parse_batch_status(""));
  CHECK(std::string(to_string(batch_status::cancelled)) == "cancelled");
}

TEST_CASE("only completed, failed and cancelled are terminal") {
  CHECK_FALSE(is_terminal(batch_status::pending));
  CHECK_FALSE(is_terminal(batch_status::queued));
  CHECK_FALSE(is_terminal(batch_status::processing));
  CHECK(is_terminal(batch_status::completed));
  CHECK(is_terminal(batch_status::failed));
  CHECK(is_terminal(batch_status::cancelled));
}

TEST_CASE("item status names round-trip") {
  for (auto s : {item_status::pending, item_status::succeeded,
                 item_status::failed}) {
    auto parsed = parse_item_status(to_string(s));
    REQUIRE(parsed);
    CHECK(*parsed == s);
  }
  CHECK_FALSE(parse_item_status("done"));
}
