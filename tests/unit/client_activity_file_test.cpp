#include "client/activity_file.hpp"

#include "domain/validation.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

using namespace ogf::client;
using nlohmann::json;

namespace {

// Reads `text` as the file `name` and keeps every chunk.
std::vector<activity_chunk> chunks_of(const std::string& text,
                                      const std::string& name,
                                      chunk_limits limits = {}) {
  std::istringstream in(text);
  std::vector<activity_chunk> out;
  read_activities(in, name, limits, [&](const activity_chunk& c) {
    out.push_back(c);
    return true;
  });
  return out;
}

chunk_limits rows(std::size_t n) {
  chunk_limits limits;
  limits.max_rows = n;
  return limits;
}

// What the server makes of a chunk's CSV body.
ogf::domain::result<std::vector<ogf::domain::activity>>
server_reads(const activity_chunk& c) {
  return ogf::domain::parse_activities_csv(c.body, [](std::string_view unit) {
    return unit == "kWh" || unit == "L";
  });
}

const std::string header =
    "id,activity_type,quantity,unit,period_start,period_end,metadata\n";

std::string row(const std::string& id, const std::string& metadata = "") {
  return id + ",diesel,1.5,L,2026-01-01,2026-01-31," + metadata + "\n";
}

// A file in the system's temporary directory, removed at the end.
struct temp_file {
  std::filesystem::path path;
  temp_file(const std::string& name, const std::string& text)
      : path(std::filesystem::temp_directory_path() /
             ("ogf-client-test-" + std::to_string(::getpid()) + "-" + name)) {
    std::ofstream(path, std::ios::binary) << text;
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

} // namespace

// -- CSV
// ---------------------------------------------------------------------------

TEST_CASE("a CSV file is split into chunks of at most max_rows rows with the "
          "header on top of each",
          "[client]") {
  std::string text = header;
  for (int i = 1; i <= 7; ++i)
    text += row("a" + std::to_string(i));
  auto chunks = chunks_of(text, "acts.csv", rows(3));
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0].body == header + row("a1") + row("a2") + row("a3"));
  CHECK(chunks[1].body == header + row("a4") + row("a5") + row("a6"));
  CHECK(chunks[2].body == header + row("a7"));
  CHECK(chunks[0].content_type == "text/csv");
  CHECK(chunks[0].first_row == 1);
  CHECK(chunks[1].first_row == 4);
  CHECK(chunks[2].first_row == 7);
  CHECK(chunks[0].lines == std::vector<std::int64_t>{2, 3, 4});
  CHECK(chunks[2].lines == std::vector<std::int64_t>{8});
  CHECK(chunks[1].ids == std::vector<std::string>{"a4", "a5", "a6"});
  auto row_bytes = row("a1").size();
  CHECK(chunks[0].end_offset == header.size() + 3 * row_bytes);
  CHECK(chunks[1].end_offset == header.size() + 6 * row_bytes);
  CHECK(chunks[2].end_offset == text.size());
  for (const auto& c : chunks) {
    auto parsed = server_reads(c);
    REQUIRE(parsed);
    CHECK(parsed->size() == c.lines.size());
  }
}

TEST_CASE("a CSV chunk stays within max_bytes unless one row alone is larger",
          "[client]") {
  std::string big_metadata =
      "\"{\"\"note\"\": \"\"" + std::string(300, 'x') + "\"\"}\"";
  std::string text = header + row("a1") + row("a2") + row("big", big_metadata) +
                     row("a3") + row("a4") + row("a5");
  chunk_limits limits;
  limits.max_bytes = header.size() + 2 * row("a1").size();
  auto chunks = chunks_of(text, "acts.csv", limits);
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[0].ids == std::vector<std::string>{"a1", "a2"});
  CHECK(chunks[1].ids == std::vector<std::string>{"big"});
  CHECK(chunks[1].body.size() > limits.max_bytes);
  CHECK(chunks[2].ids == std::vector<std::string>{"a3", "a4"});
  CHECK(chunks[3].ids == std::vector<std::string>{"a5"});
  CHECK(chunks[3].first_row == 6);
  for (const auto& c : chunks) {
    if (c.ids.size() > 1)
      CHECK(c.body.size() <= limits.max_bytes);
    CHECK(server_reads(c));
  }
}

TEST_CASE("quoted CSV fields may hold commas, quotes and line breaks",
          "[client]") {
  std::string text = header +
                     row("m1", "\"{\"\"a\"\": \"\"x,y\"\",\n\"\"b\"\": 1}\"") +
                     "\"m,2\",diesel,2,L,2026-01-01,2026-01-31,\"{\n\n}\"\n" +
                     "\"m\"\"3\",diesel,3,L,2026-01-01,2026-01-31,\n";
  auto chunks = chunks_of(text, "acts.csv", rows(2));
  REQUIRE(chunks.size() == 2);
  // Records are copied as they are, quotes and all.
  CHECK(chunks[0].body == text.substr(0, text.find("\"m\"\"3\"")));
  CHECK(chunks[0].lines == std::vector<std::int64_t>{2, 4});
  CHECK(chunks[1].lines == std::vector<std::int64_t>{7});
  // Ids unquoted, as the server reads them.
  CHECK(chunks[0].ids == std::vector<std::string>{"m1", "m,2"});
  CHECK(chunks[1].ids == std::vector<std::string>{"m\"3"});
  // The server splits the body the same way: row 1 is valid, and row 2 is
  // refused for its id "m,2" (a comma is not allowed in ids), not for its
  // syntax.
  auto parsed = server_reads(chunks[0]);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error().field == "id");
  CHECK(parsed.error().details.at("row") == 2);
  CHECK(parsed.error().details.at("line") == 4);
  auto first = chunks[0];
  first.body = first.body.substr(0, first.body.find("\"m,2\""));
  auto parsed_first = server_reads(first);
  REQUIRE(parsed_first);
  REQUIRE(parsed_first->size() == 1);
  CHECK((*parsed_first)[0].metadata == json{{"a", "x,y"}, {"b", 1}});
}

TEST_CASE("CRLF, a BOM and blank lines are read as the server reads them",
          "[client]") {
  std::string text =
      "\xEF\xBB\xBF\r\n"
      "id,activity_type,quantity,unit,period_start,period_end\r\n"
      "\r\n"
      "c1,diesel,1,L,2026-01-01,2026-01-02\r\n"
      "\n"
      "\n"
      "c2,diesel,2,L,2026-01-01,2026-01-02\r\n"
      "c3,diesel,3,L,2026-01-01,2026-01-02";
  auto chunks = chunks_of(text, "ACTS.CSV", rows(2));
  REQUIRE(chunks.size() == 2);
  // The BOM and blank lines are not sent; each record keeps its CRLF, and
  // the last one gets a line end it lacked.
  CHECK(chunks[0].body ==
        "id,activity_type,quantity,unit,period_start,period_end\r\n"
        "c1,diesel,1,L,2026-01-01,2026-01-02\r\n"
        "c2,diesel,2,L,2026-01-01,2026-01-02\r\n");
  CHECK(chunks[1].body ==
        "id,activity_type,quantity,unit,period_start,period_end\r\n"
        "c3,diesel,3,L,2026-01-01,2026-01-02\n");
  CHECK(chunks[0].first_row == 1);
  CHECK(chunks[1].first_row == 3);
  CHECK(chunks[0].lines == std::vector<std::int64_t>{4, 7});
  CHECK(chunks[1].lines == std::vector<std::int64_t>{8});
  CHECK(chunks[1].ids == std::vector<std::string>{"c3"});
  CHECK(chunks[1].end_offset == text.size());
  for (const auto& c : chunks)
    CHECK(server_reads(c));
}

TEST_CASE("a lone CR inside a CSV field does not end the record", "[client]") {
  std::string text = "id,note\nx\ry,a\rb\nz,c\r\n";
  auto chunks = chunks_of(text, "acts.csv");
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].ids == std::vector<std::string>{"x\ry", "z"});
  CHECK(chunks[0].lines == std::vector<std::int64_t>{2, 3});
  CHECK(chunks[0].body == text);
}

TEST_CASE("a server row error is named by its line in the file", "[client]") {
  // Row 5 of the file (line 8) has a bad quantity; it lands in the second
  // chunk as its row 2.
  std::string text = header + row("r1") + row("r2", "\"{\n}\"") + "\n" +
                     row("r3") + row("r4") +
                     "r5,diesel,-1,L,2026-01-01,2026-01-31,\n" + row("r6");
  auto chunks = chunks_of(text, "acts.csv", rows(3));
  REQUIRE(chunks.size() == 2);
  auto parsed = server_reads(chunks[1]);
  REQUIRE_FALSE(parsed);
  auto server_row = parsed.error().details.at("row").get<std::int64_t>();
  CHECK(server_row == 2);
  CHECK(chunks[1].first_row + server_row - 1 == 5);
  CHECK(chunks[1].lines[static_cast<std::size_t>(server_row - 1)] == 8);
  CHECK(chunks[1].ids[static_cast<std::size_t>(server_row - 1)] == "r5");
}

TEST_CASE("randomly quoted and spaced CSV files split as the server reads "
          "them",
          "[client]") {
  std::mt19937 random(20261128);
  auto pick = [&](int n) {
    return static_cast<int>(random() % static_cast<unsigned>(n));
  };
  for (int round = 0; round < 50; ++round) {
    INFO("round " << round);
    std::string eol = pick(2) ? "\r\n" : "\n";
    std::string text = pick(2) ? "\xEF\xBB\xBF" : "";
    text +=
        "id,activity_type,quantity,unit,period_start,period_end,metadata" + eol;
    std::vector<std::string> ids;
    std::vector<std::int64_t> lines;
    std::int64_t line = 2;
    int count = 1 + pick(40);
    for (int i = 0; i < count; ++i) {
      while (pick(4) == 0) {
        text += pick(2) ? "\r\n" : "\n";
        ++line;
      }
      std::string id = "r" + std::to_string(i);
      std::string id_cell = pick(2) ? "\"" + id + "\"" : id;
      std::string metadata;
      int breaks = 0;
      switch (pick(3)) {
      case 0:
        break;
      case 1:
        metadata = "\"{\"\"k\"\": \"\"a,b\"\"}\"";
        break;
      case 2:
        breaks = 1 + pick(3);
        metadata = "\"{" + std::string(static_cast<std::size_t>(breaks), '\n') +
                   "\"\"q\"\": 1}\"";
        break;
      }
      text += id_cell + ",diesel," + std::to_string(i) +
              ",L,2026-01-01,2026-01-31," + metadata;
      ids.push_back(id);
      lines.push_back(line);
      line += breaks;
      if (i + 1 < count || pick(2)) {
        text += pick(2) ? "\r\n" : "\n";
        ++line;
      }
    }
    std::size_t max_rows = 1 + static_cast<std::size_t>(pick(10));
    auto chunks = chunks_of(text, "r.csv", rows(max_rows));
    std::vector<std::string> got_ids;
    std::vector<std::int64_t> got_lines;
    std::int64_t next_row = 1;
    for (const auto& c : chunks) {
      CHECK(c.first_row == next_row);
      CHECK(c.lines.size() <= max_rows);
      CHECK(c.ids.size() == c.lines.size());
      next_row += static_cast<std::int64_t>(c.lines.size());
      got_ids.insert(got_ids.end(), c.ids.begin(), c.ids.end());
      got_lines.insert(got_lines.end(), c.lines.begin(), c.lines.end());
      auto parsed = server_reads(c);
      REQUIRE(parsed);
      REQUIRE(parsed->size() == c.ids.size());
      for (std::size_t k = 0; k < c.ids.size(); ++k)
        CHECK((*parsed)[k].id == c.ids[k]);
    }
    CHECK(got_ids == ids);
    CHECK(got_lines == lines);
    CHECK(chunks.back().end_offset == text.size());
  }
}

TEST_CASE("a CSV quote never closed is an error naming the file and the line "
          "of its record",
          "[client]") {
  std::string text =
      header + row("q1") + "\n" + "q2,diesel,1,L,2026-01-01,2026-01-31,\"{\n\n";
  std::istringstream in(text);
  try {
    read_activities(in, "data/acts.csv", rows(1),
                    [](const activity_chunk&) { return true; });
    FAIL("no error");
  } catch (const activity_file_error& e) {
    CHECK(e.line() == 4);
    CHECK(std::string(e.what()).find("data/acts.csv:4:") == 0);
    CHECK(std::string(e.what()).find("quoted field") != std::string::npos);
  }
  // In the header too.
  CHECK_THROWS_AS(chunks_of("\"id,x\n", "a.csv"), activity_file_error);
}

TEST_CASE("an empty or header-only CSV file gives no chunk", "[client]") {
  CHECK(chunks_of("", "a.csv").empty());
  CHECK(chunks_of("\xEF\xBB\xBF", "a.csv").empty());
  CHECK(chunks_of(header, "a.csv").empty());
  CHECK(chunks_of("\n\r\n" + header + "\n\n\r\n", "a.csv").empty());
  CHECK(chunks_of("id,x", "a.csv").empty());
}

TEST_CASE("a CSV file without an id column gives empty ids", "[client]") {
  auto chunks = chunks_of("activity_type,quantity\ndiesel,1\n,\n", "a.csv");
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].ids == std::vector<std::string>{"", ""});
  // A short record has no id cell either.
  chunks = chunks_of("quantity,id\n1\n2,x\n", "a.csv");
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].ids == std::vector<std::string>{"", "x"});
}

TEST_CASE("reading stops when on_chunk returns false", "[client]") {
  std::string csv = header;
  for (int i = 0; i < 10; ++i)
    csv += row("s" + std::to_string(i));
  for (const auto& [text, name] :
       {std::pair{csv, std::string("a.csv")},
        std::pair{std::string("[{\"id\":\"1\"},{\"id\":\"2\"},{\"id\":\"3\"},"
                              "{\"id\":\"4\"}]"),
                  std::string("a.json")}}) {
    INFO(name);
    std::istringstream in(text);
    int calls = 0;
    read_activities(in, name, rows(1), [&](const activity_chunk& c) {
      ++calls;
      CHECK(c.first_row == calls);
      return calls < 2;
    });
    CHECK(calls == 2);
  }
}

// -- JSON
// --------------------------------------------------------------------------

TEST_CASE("a JSON array is split into chunks of at most max_rows elements",
          "[client]") {
  std::string text = "[\n"
                     "  {\"id\": \"j1\", \"quantity\": 1},\n"
                     "  {\"id\": \"j2\", \"quantity\": 2},\n"
                     "  {\n"
                     "    \"id\": \"j3\", \"quantity\": 3\n"
                     "  }\n"
                     "]\n";
  auto chunks = chunks_of(text, "acts.json", rows(2));
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].content_type == "application/json");
  CHECK(
      chunks[0].body ==
      R"({"activities":[{"id":"j1","quantity":1},{"id":"j2","quantity":2}]})");
  CHECK(chunks[1].body == R"({"activities":[{"id":"j3","quantity":3}]})");
  CHECK(chunks[0].first_row == 1);
  CHECK(chunks[1].first_row == 3);
  CHECK(chunks[0].lines == std::vector<std::int64_t>{2, 3});
  CHECK(chunks[1].lines == std::vector<std::int64_t>{4});
  CHECK(chunks[0].ids == std::vector<std::string>{"j1", "j2"});
  CHECK(chunks[1].ids == std::vector<std::string>{"j3"});
  CHECK(chunks[0].end_offset == text.find("},\n  {\n") + 1);
  CHECK(chunks[1].end_offset == text.size());
}

TEST_CASE("JSON elements keep their numbers digit for digit and their values "
          "as parsed",
          "[client]") {
  std::string element =
      R"({"id":"n1","quantity":0.1000000000000000055511151231257827,)"
      R"("big":123456789012345678901234567890,"neg":-42,"e":1.5E-7,)"
      R"("u":18446744073709551615,"s":"tab\t\"q\" \u00e9 \ud83d\ude00 \/",)"
      R"("nested":{"id":"not-this","a":[1,[],{},null,true,false]},"x":[]})";
  auto chunks = chunks_of("{\"activities\": [" + element + "]}", "a.json");
  REQUIRE(chunks.size() == 1);
  const auto& body = chunks[0].body;
  CHECK(body.find("0.1000000000000000055511151231257827") != std::string::npos);
  CHECK(body.find("123456789012345678901234567890") != std::string::npos);
  CHECK(body.find("1.5E-7") != std::string::npos);
  CHECK(body.find("18446744073709551615") != std::string::npos);
  CHECK(json::parse(body) ==
        json{{"activities", json::array({json::parse(element)})}});
  CHECK(chunks[0].ids == std::vector<std::string>{"n1"});
}

TEST_CASE("a JSON file may be an object with only an activities array",
          "[client]") {
  auto chunks = chunks_of("\xEF\xBB\xBF{\n\"activities\": [\n{\"id\": \"w1\"},"
                          "\n\n{\"id\": \"w2\"}\n]\n}\n",
                          "a.JSON");
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].ids == std::vector<std::string>{"w1", "w2"});
  CHECK(chunks[0].lines == std::vector<std::int64_t>{3, 5});
  CHECK(chunks_of("{\"activities\": []}", "a.json").empty());
  CHECK(chunks_of("[]", "a.json").empty());
}

TEST_CASE("JSON that is not an array of activities is an error naming the "
          "file and line",
          "[client]") {
  for (const char* text :
       {"{}", "{\"rows\": []}", "{\"activities\": {}}", "{\"activities\": 1}",
        "{\"activities\": [], \"more\": 1}",
        "{\"activities\": [], \"activities\": []}", "17", "\"text\"", "null",
        "", "[{\"id\": \"a\"}", "[{\"id\": \"a\"},]", "[1 2]",
        "[{\"id\": \"a\"}] trailing"}) {
    INFO(text);
    CHECK_THROWS_AS(chunks_of(text, "bad.json"), activity_file_error);
  }
  try {
    chunks_of("[\n{\"id\": \"a\"},\n{\"id\": tru}\n]", "dir/bad.json");
    FAIL("no error");
  } catch (const activity_file_error& e) {
    CHECK(e.line() == 3);
    std::string what = e.what();
    CHECK(what.find("dir/bad.json") == 0);
    CHECK(what.find("line 3") != std::string::npos);
    CHECK(what.find("[json.exception") == std::string::npos);
  }
  try {
    chunks_of("{\n\"activities\": [],\n\"other\": 1}", "o.json");
    FAIL("no error");
  } catch (const activity_file_error& e) {
    CHECK(e.line() == 3);
    CHECK(std::string(e.what()).find("o.json:3: ") == 0);
  }
}

TEST_CASE("JSON elements that are not objects are passed on for the server "
          "to name",
          "[client]") {
  auto chunks =
      chunks_of("[\n{\"id\": \"o1\"},\n17\n,\n\"s\", [1, 2], null]", "a.json");
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].body == R"({"activities":[{"id":"o1"},17,"s",[1,2],null]})");
  CHECK(chunks[0].lines == std::vector<std::int64_t>{2, 3, 5, 5, 5});
  CHECK(chunks[0].ids == std::vector<std::string>{"o1", "", "", "", ""});
}

TEST_CASE("a JSON id that is not a string is not taken as the id", "[client]") {
  auto chunks =
      chunks_of(R"([{"id": 5}, {"a": {"id": "x"}}, {"id": "y"}])", "a.json");
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].ids == std::vector<std::string>{"", "", "y"});
}

TEST_CASE("a JSON chunk stays within max_bytes unless one element alone is "
          "larger",
          "[client]") {
  std::string small = R"({"id":"s"})";
  std::string large = R"({"id":"L","pad":")" + std::string(200, 'p') + "\"}";
  std::string text =
      "[" + small + "," + small + "," + small + "," + large + "," + small + "]";
  chunk_limits limits;
  limits.max_bytes =
      std::string(R"({"activities":[]})").size() + 2 * small.size() + 1;
  auto chunks = chunks_of(text, "a.json", limits);
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[0].lines.size() == 2);
  CHECK(chunks[0].body.size() == limits.max_bytes);
  CHECK(chunks[1].lines.size() == 1);
  CHECK(chunks[2].ids == std::vector<std::string>{"L"});
  CHECK(chunks[2].body.size() > limits.max_bytes);
  CHECK(chunks[3].first_row == 5);
}

TEST_CASE("a JSON file of 25,000 activities makes three requests by default",
          "[client]") {
  std::string text = "[";
  for (int i = 0; i < 25000; ++i) {
    if (i > 0)
      text += ",\n";
    text += "{\"id\":\"a" + std::to_string(i) +
            "\",\"quantity\":" + std::to_string(i) + ".25}";
  }
  text += "]";
  auto chunks = chunks_of(text, "a.json");
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0].lines.size() == 10000);
  CHECK(chunks[1].first_row == 10001);
  CHECK(chunks[2].lines.size() == 5000);
  CHECK(chunks[2].lines.back() == 25000);
  CHECK(chunks[2].ids.back() == "a24999");
  CHECK(json::parse(chunks[1].body)["activities"][0]["quantity"].dump() ==
        "10000.25");
}

// -- files and id lists
// ------------------------------------------------------------

TEST_CASE("a file is read by its extension and its size is returned",
          "[client]") {
  std::string text = header + row("f1") + row("f2");
  temp_file file("acts.CSV", text);
  std::vector<activity_chunk> chunks;
  auto size =
      read_activity_file(file.path.string(), {}, [&](const activity_chunk& c) {
        chunks.push_back(c);
        return true;
      });
  CHECK(size == text.size());
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].ids == std::vector<std::string>{"f1", "f2"});
}

TEST_CASE("a missing file or a wrong extension is a one-line error naming "
          "the file",
          "[client]") {
  auto never = [](const activity_chunk&) -> bool {
    FAIL("no chunk expected");
    return false;
  };
  // A directory cannot be read as a file, whatever its name.
  auto dir = std::filesystem::temp_directory_path() /
             ("ogf-client-test-" + std::to_string(::getpid()) + "-dir.json");
  std::filesystem::create_directory(dir);
  for (const std::string& path :
       {std::string("/nonexistent/acts.csv"),
        std::string("/nonexistent/acts.txt"), std::string("acts"),
        std::string("acts.csv.gz"), dir.string()}) {
    INFO(path);
    try {
      read_activity_file(path, {}, never);
      FAIL("no error");
    } catch (const activity_file_error& e) {
      std::string what = e.what();
      CHECK(what.find(path) == 0);
      CHECK(what.find('\n') == std::string::npos);
      CHECK(e.line() == 0);
    }
  }
  std::filesystem::remove(dir);
  temp_file not_activities("x.txt", "id\n1\n");
  CHECK_THROWS_AS(read_activity_file(not_activities.path.string(), {}, never),
                  activity_file_error);
  std::istringstream in("[]");
  CHECK_THROWS_AS(read_activities(in, "acts.xml", {}, never),
                  activity_file_error);
}

TEST_CASE("id lists split on commas and lines and skip comments and blanks",
          "[client]") {
  std::istringstream in("\xEF\xBB\xBF"
                        "a1, a2,,\ta3\t\r\n"
                        "# a comment, not ids\n"
                        "\n"
                        "  # indented comment\n"
                        "a4\n"
                        " , \n"
                        "a1\n"
                        "a5");
  CHECK(read_id_list(in) ==
        std::vector<std::string>{"a1", "a2", "a3", "a4", "a1", "a5"});
  std::istringstream empty("");
  CHECK(read_id_list(empty).empty());
}

TEST_CASE("a server row error in a JSON chunk is named by its line in the "
          "file",
          "[client]") {
  auto activity = [](const std::string& id, const std::string& quantity) {
    return "{\"id\": \"" + id +
           "\", \"activity_type\": \"diesel\", \"quantity\": " + quantity +
           ",\n \"unit\": \"L\", \"period_start\": \"2026-01-01\", "
           "\"period_end\": \"2026-01-31\"}";
  };
  // Each element takes two lines; j4 (row 4, line 8) is refused.
  std::string text = "[\n" + activity("j1", "1") + ",\n" + activity("j2", "2") +
                     ",\n" + activity("j3", "3") + ",\n" +
                     activity("j4", "-4") + "]";
  auto chunks = chunks_of(text, "a.json", rows(2));
  REQUIRE(chunks.size() == 2);
  auto parsed = ogf::domain::parse_activities_json(
      json::parse(chunks[1].body),
      [](std::string_view unit) { return unit == "L"; });
  REQUIRE_FALSE(parsed);
  // details.row is the element's index in the request, from 0.
  auto server_row = parsed.error().details.at("row").get<std::int64_t>();
  CHECK(server_row == 1);
  CHECK(chunks[1].first_row + server_row == 4);
  CHECK(chunks[1].lines[static_cast<std::size_t>(server_row)] == 8);
  CHECK(chunks[1].ids[static_cast<std::size_t>(server_row)] == "j4");
}
