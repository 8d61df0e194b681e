#include "persistence/named_queries.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

using namespace ogf::persistence;

namespace {

std::vector<named_query> parse(const std::string& text) {
  return parse_named_queries({{"sample.sql", text}});
}

std::string error_of(const std::vector<sql_file>& files) {
  try {
    parse_named_queries(files);
  } catch (const named_query_error& e) {
    return e.what();
  }
  return "no error";
}

std::string error_of(const std::string& text) {
  return error_of({{"sample.sql", text}});
}

} // namespace

TEST_CASE(
    "parses named statements, dropping comments and the final semicolon") {
  auto queries = parse("-- What this file holds.\n"
                       "\n"
                       "-- name: get_one\n"
                       "-- Why it is written this way.\n"
                       "SELECT a, 'x -- y'\n"
                       "  FROM t  \n"
                       "  -- an indented comment\n"
                       "WHERE id = $1;\n"
                       "\n"
                       "-- name: ping\n"
                       "SELECT 1\n");
  REQUIRE(queries.size() == 2);
  CHECK(queries[0].name == "get_one");
  CHECK(queries[0].sql == "SELECT a, 'x -- y'\n  FROM t\nWHERE id = $1");
  CHECK(queries[0].file == "sample.sql:3");
  CHECK(queries[1].name == "ping");
  CHECK(queries[1].sql == "SELECT 1");
}

TEST_CASE("substitutes fragments, also those defined in another file or "
          "further down") {
  auto queries = parse_named_queries(
      {{"a.sql", "-- name: get\nSELECT {{cols}} FROM t b WHERE b.id = $1;\n"
                 "-- name: two\nSELECT {{cols}}, {{cols}} FROM t b;\n"},
       {"b.sql", "-- fragment: cols\n-- The columns.\nb.id,\nb.name\n"}});
  REQUIRE(queries.size() == 2);
  CHECK(queries[0].sql == "SELECT b.id,\nb.name FROM t b WHERE b.id = $1");
  CHECK(queries[1].sql == "SELECT b.id,\nb.name, b.id,\nb.name FROM t b");
}

TEST_CASE("refuses a name used twice, in one file or across files") {
  CHECK_THAT(error_of("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n"),
             Catch::Contains("sample.sql:3") &&
                 Catch::Contains("duplicate name 'a'"));
  CHECK_THAT(error_of({{"x.sql", "-- name: a\nSELECT 1;\n"},
                       {"y.sql", "-- fragment: a\nb.id\n"}}),
             Catch::Contains("y.sql:1") && Catch::Contains("x.sql:1"));
}

TEST_CASE("refuses an unknown fragment, a nested one and an unclosed '{{'") {
  CHECK_THAT(error_of("-- name: a\nSELECT {{colums}} FROM t;\n"),
             Catch::Contains("unknown fragment '{{colums}}'"));
  CHECK_THAT(error_of("-- fragment: x\na, {{y}}\n-- fragment: y\nb\n"
                      "-- name: q\nSELECT {{x}};\n"),
             Catch::Contains("no nesting"));
  CHECK_THAT(error_of("-- name: a\nSELECT {{cols FROM t;\n"),
             Catch::Contains("without '}}'"));
}

TEST_CASE("refuses empty statements, bad names and SQL outside a block") {
  CHECK_THAT(error_of("-- name: a\n-- only a comment\n\n-- name: b\nSELECT 1"),
             Catch::Contains("sample.sql:1") &&
                 Catch::Contains("empty query a"));
  CHECK_THAT(error_of("-- name: a\n;\n"), Catch::Contains("empty query a"));
  CHECK_THAT(error_of("-- fragment: f\n-- name: a\nSELECT 1;\n"),
             Catch::Contains("empty fragment f"));
  CHECK_THAT(error_of("-- name: getBatch\nSELECT 1;\n"),
             Catch::Contains("bad name 'getBatch'"));
  CHECK_THAT(error_of("-- name:\nSELECT 1;\n"), Catch::Contains("bad name"));
  CHECK_THAT(error_of("SELECT 1;\n-- name: a\nSELECT 2;\n"),
             Catch::Contains("sample.sql:1") &&
                 Catch::Contains("SQL before the first"));
}

TEST_CASE("the store's files in persistence/sql/ parse, with every "
          "fragment substituted") {
  std::vector<sql_file> files;
  for (const auto& e : std::filesystem::directory_iterator(
           std::filesystem::path(OGF_SOURCE_DIR) / "persistence/sql")) {
    if (e.path().extension() != ".sql")
      continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    files.push_back({e.path().filename().string(), text.str()});
  }
  std::vector<named_query> queries;
  REQUIRE_NOTHROW(queries = parse_named_queries(files));
  CHECK(queries.size() >= 30);
  for (const auto& q : queries) {
    INFO(q.file << " " << q.name);
    CHECK(q.sql.find("{{") == std::string::npos);
    CHECK(q.sql.find("--") == std::string::npos);
    CHECK(q.sql.back() != ';');
  }
}
