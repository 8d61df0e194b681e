// Query strings of GET /api/v1/batches and /batches/{id}/items.
#include "domain/validation.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace ogf::domain;

namespace {

template <class T>
void require_error(const result<T>& r, const char* code,
                   const std::string& field) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  CHECK(r.error().field == field);
}

const batch_cursor some_cursor{1795881845123000,
                               "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"};

} // namespace

TEST_CASE("an empty list query takes the defaults") {
  auto q = parse_list_query({});
  REQUIRE(q);
  CHECK(q->statuses.empty());
  CHECK_FALSE(q->priority);
  CHECK_FALSE(q->created_after);
  CHECK_FALSE(q->created_before);
  CHECK(q->limit == 20);
  CHECK_FALSE(q->page_token);
  CHECK_FALSE(q->after);
  CHECK_FALSE(q->offset);
}

TEST_CASE("status takes one name, a comma list or repeats") {
  auto one = parse_list_query({{"status", "failed"}});
  REQUIRE(one);
  CHECK(one->statuses == std::vector<batch_status>{batch_status::failed});
  auto list = parse_list_query({{"status", "pending,processing,pending"}});
  REQUIRE(list);
  CHECK(list->statuses == std::vector<batch_status>{batch_status::pending,
                                                    batch_status::processing});
  auto repeated = parse_list_query(
      {{"status", "queued"}, {"status", "cancelled,completed"}});
  REQUIRE(repeated);
  CHECK(repeated->statuses.size() == 3);
  for (const char* bad : {"", "done", "Pending", "pending,", ",pending",
                          "pending,,failed", "pending failed"}) {
    INFO(bad);
    require_error(parse_list_query({{"status", bad}}), code_validation_error,
                  "status");
  }
}

TEST_CASE("list priority is an integer from 1 to 10") {
  for (int ok : {1, 10}) {
    auto q = parse_list_query({{"priority", std::to_string(ok)}});
    REQUIRE(q);
    CHECK(q->priority == ok);
  }
  for (const char* bad : {"0", "11", "", "-1", "+1", " 1", "1.0", "abc",
                          "99999999999999999999"}) {
    INFO(bad);
    require_error(parse_list_query({{"priority", bad}}), code_validation_error,
                  "priority");
  }
}

TEST_CASE("created_after and created_before are RFC 3339 timestamps") {
  auto q = parse_list_query({{"created_after", "2026-11-28T16:04:05.123Z"},
                             {"created_before", "2026-11-28T18:04:05+02:00"}});
  REQUIRE(q);
  CHECK(q->created_after == 1795881845123000);
  CHECK(q->created_before == 1795881845000000);
  require_error(parse_list_query({{"created_after", "2026-11-28"}}),
                code_validation_error, "created_after");
  require_error(parse_list_query({{"created_before", "yesterday"}}),
                code_validation_error, "created_before");
}

TEST_CASE("list limit is an integer from 1 to 100") {
  for (int ok : {1, 50, 100}) {
    auto q = parse_list_query({{"limit", std::to_string(ok)}});
    REQUIRE(q);
    CHECK(q->limit == ok);
  }
  for (const char* bad :
       {"0", "101", "", "-5", "20abc", "1e2", "99999999999999999999"}) {
    INFO(bad);
    require_error(parse_list_query({{"limit", bad}}), code_validation_error,
                  "limit");
  }
}

TEST_CASE("a list page token is decoded into a cursor") {
  auto token = encode_batch_page_token(some_cursor);
  auto q = parse_list_query({{"page_token", token}});
  REQUIRE(q);
  CHECK(q->page_token == token);
  REQUIRE(q->after);
  CHECK(*q->after == some_cursor);
  require_error(parse_list_query({{"page_token", "garbage"}}),
                code_validation_error, "page_token");
  require_error(
      parse_list_query({{"page_token", encode_item_page_token("meter-1")}}),
      code_validation_error, "page_token");
}

TEST_CASE("offset is an integer >= 0 and excludes page_token") {
  auto zero = parse_list_query({{"offset", "0"}});
  REQUIRE(zero);
  CHECK(zero->offset == 0);
  auto max = parse_list_query({{"offset", "9223372036854775807"}});
  REQUIRE(max);
  CHECK(max->offset == 9223372036854775807);
  for (const char* bad : {"-1", "", "9223372036854775808", "1.5", "x"}) {
    INFO(bad);
    require_error(parse_list_query({{"offset", bad}}), code_validation_error,
                  "offset");
  }
  require_error(
      parse_list_query({{"offset", "10"},
                        {"page_token", encode_batch_page_token(some_cursor)}}),
      code_validation_error, "offset");
}

TEST_CASE("unknown list parameters are refused, as are repeated ones") {
  auto r = parse_list_query({{"stauts", "failed"}});
  require_error(r, code_unknown_field, "stauts");
  require_error(parse_list_query({{"limit", "5"}, {"limit", "6"}}),
                code_validation_error, "limit");
  require_error(parse_list_query({{"priority", "5"}, {"priority", "5"}}),
                code_validation_error, "priority");
}

TEST_CASE("an empty items query takes the defaults") {
  auto q = parse_items_query({});
  REQUIRE(q);
  CHECK_FALSE(q->status);
  CHECK(q->limit == 100);
  CHECK_FALSE(q->page_token);
  CHECK_FALSE(q->after_activity_id);
}

TEST_CASE("items status is pending, succeeded or failed") {
  for (auto s :
       {item_status::pending, item_status::succeeded, item_status::failed}) {
    auto q = parse_items_query({{"status", to_string(s)}});
    REQUIRE(q);
    CHECK(q->status == s);
  }
  for (const char* bad : {"processing", "", "pending,failed", "FAILED"}) {
    INFO(bad);
    require_error(parse_items_query({{"status", bad}}), code_validation_error,
                  "status");
  }
}

TEST_CASE("items limit is an integer from 1 to 1000") {
  for (int ok : {1, 1000}) {
    auto q = parse_items_query({{"limit", std::to_string(ok)}});
    REQUIRE(q);
    CHECK(q->limit == ok);
  }
  for (const char* bad : {"0", "1001", "", "-1"}) {
    INFO(bad);
    require_error(parse_items_query({{"limit", bad}}), code_validation_error,
                  "limit");
  }
}

TEST_CASE("an items page token is decoded into the last activity id") {
  auto token = encode_item_page_token("meter-9");
  auto q = parse_items_query({{"page_token", token}});
  REQUIRE(q);
  CHECK(q->after_activity_id == "meter-9");
  CHECK(q->page_token == token);
  require_error(
      parse_items_query({{"page_token", encode_batch_page_token(some_cursor)}}),
      code_validation_error, "page_token");
}

TEST_CASE("items queries refuse unknown and repeated parameters") {
  require_error(parse_items_query({{"offset", "5"}}), code_unknown_field,
                "offset");
  require_error(
      parse_items_query({{"status", "failed"}, {"status", "pending"}}),
      code_validation_error, "status");
}
