#include "client/sse.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <utility>
#include <vector>

using namespace ogf::client;

namespace {

using events = std::vector<std::pair<std::string, std::string>>;

// A parser that records every event it hands over.
struct recorder {
  events got;
  sse_parser parser{[this](const std::string& event, const std::string& data) {
    got.emplace_back(event, data);
    return true;
  }};
};

events parse_whole(std::string_view stream) {
  recorder r;
  CHECK(r.parser.feed(stream));
  return r.got;
}

// Two progress events and a done, as the server sends them.
const std::string server_stream =
    ": connected\n\n"
    "event: progress\n"
    "data: {\"batch_id\":\"b1\",\"percent\":50}\n"
    "\n"
    "event: progress\r\n"
    "data: {\"batch_id\":\"b1\",\"percent\":100}\r\n"
    "\r\n"
    "event: done\r"
    "data: {\"id\":\"b1\",\"status\":\"completed\"}\r"
    "\r";

const events server_events = {
    {"progress", "{\"batch_id\":\"b1\",\"percent\":50}"},
    {"progress", "{\"batch_id\":\"b1\",\"percent\":100}"},
    {"done", "{\"id\":\"b1\",\"status\":\"completed\"}"},
};

} // namespace

TEST_CASE("the event stream gives each event with its type and data",
          "[client]") {
  CHECK(parse_whole(server_stream) == server_events);
}

TEST_CASE("the event stream gives the same events however it is split",
          "[client]") {
  for (std::size_t cut = 0; cut <= server_stream.size(); ++cut) {
    INFO("split at byte " << cut);
    recorder r;
    CHECK(r.parser.feed(std::string_view(server_stream).substr(0, cut)));
    CHECK(r.parser.feed(std::string_view(server_stream).substr(cut)));
    CHECK(r.got == server_events);
  }
  for (std::size_t a = 1; a < server_stream.size(); a += 7) {
    for (std::size_t b = a; b <= server_stream.size(); b += 5) {
      INFO("split at bytes " << a << " and " << b);
      recorder r;
      std::string_view s = server_stream;
      r.parser.feed(s.substr(0, a));
      r.parser.feed(s.substr(a, b - a));
      r.parser.feed(s.substr(b));
      CHECK(r.got == server_events);
    }
  }
  recorder one_by_one;
  for (char c : server_stream)
    one_by_one.parser.feed(std::string_view(&c, 1));
  CHECK(one_by_one.got == server_events);
}

TEST_CASE("a CRLF split across pieces ends one line, not two", "[client]") {
  recorder r;
  r.parser.feed("data: a\r");
  r.parser.feed("\n");
  // Had the LF counted as a blank line, "a" would be dispatched here.
  CHECK(r.got.empty());
  r.parser.feed("data: b\r");
  r.parser.feed("");
  r.parser.feed("\n\r");
  r.parser.feed("\n");
  CHECK(r.got == events{{"message", "a\nb"}});
}

TEST_CASE("comments and id and retry fields are ignored", "[client]") {
  CHECK(parse_whole(": keep-alive\n"
                    "id: 7\n"
                    "retry: 1000\n"
                    ":another comment\n"
                    "unknown: x\n"
                    "data: x\n"
                    ": between\n"
                    "data: y\n\n") == events{{"message", "x\ny"}});
  // Only comments: no event at all.
  CHECK(parse_whole(": one\n\n: two\n\n").empty());
}

TEST_CASE("data lines are joined with line breaks", "[client]") {
  CHECK(parse_whole("event: progress\ndata: {\ndata:  \"a\": 1\ndata: }\n\n") ==
        events{{"progress", "{\n \"a\": 1\n}"}});
}

TEST_CASE("one space after the colon is dropped and no more", "[client]") {
  CHECK(parse_whole("data:no space\n\n") == events{{"message", "no space"}});
  CHECK(parse_whole("data:  two\n\n") == events{{"message", " two"}});
  CHECK(parse_whole("data: a: b\n\n") == events{{"message", "a: b"}});
}

TEST_CASE("the event type resets after each event and defaults to message",
          "[client]") {
  CHECK(parse_whole("event: progress\ndata: 1\n\ndata: 2\n\n"
                    "event:\ndata: 3\n\n") ==
        events{{"progress", "1"}, {"message", "2"}, {"message", "3"}});
  // A type without data is dropped together with its type.
  CHECK(parse_whole("event: progress\n\ndata: 4\n\n") ==
        events{{"message", "4"}});
}

TEST_CASE("an event without data lines is not dispatched but empty data is",
          "[client]") {
  CHECK(parse_whole("event: x\n\n\n\n").empty());
  CHECK(parse_whole("data:\n\n") == events{{"message", ""}});
  CHECK(parse_whole("data\n\n") == events{{"message", ""}});
}

TEST_CASE("an event is only dispatched at its blank line", "[client]") {
  recorder r;
  r.parser.feed("data: unfinished\n");
  CHECK(r.got.empty());
  r.parser.feed("\n");
  CHECK(r.got == events{{"message", "unfinished"}});
}

TEST_CASE("a handler returning false stops the parser at once", "[client]") {
  events got;
  sse_parser parser([&](const std::string& event, const std::string& data) {
    got.emplace_back(event, data);
    return false;
  });
  CHECK_FALSE(parser.feed("data: 1\n\ndata: 2\n\n"));
  CHECK(got == events{{"message", "1"}});
}

TEST_CASE("a line longer than the limit is a length error", "[client]") {
  sse_parser parser([](const std::string&, const std::string&) { return true; },
                    16);
  CHECK(parser.feed("data: 0123456789\n\n")); // 16 bytes: allowed
  CHECK_THROWS_AS(parser.feed("data: 0123456789a\n"), std::length_error);

  // The same when the line arrives in pieces and never ends.
  sse_parser pieces([](const std::string&, const std::string&) { return true; },
                    16);
  CHECK(pieces.feed("data: 01234"));
  CHECK(pieces.feed("56789"));
  CHECK_THROWS_AS(pieces.feed("a"), std::length_error);
}

TEST_CASE("data that grows past the limit in many lines is a length error",
          "[client]") {
  sse_parser parser([](const std::string&, const std::string&) { return true; },
                    16);
  CHECK(parser.feed("data: 01234567\ndata: 0123456\n"));
  CHECK_THROWS_AS(parser.feed("data: 01\n"), std::length_error);
}
