// GET /api/v1/batches/{id}/events: Server-Sent Events.
#include <catch2/catch.hpp>

#include "http/api_fixture.hpp"
#include "http/event_stream.hpp"

using namespace ogf::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct sse_event {
  std::string name;
  json data;
  std::chrono::steady_clock::time_point at;
};

/// Splits an SSE text into events (comments skipped).
std::vector<sse_event> parse_events(const std::string& text,
                                    std::chrono::steady_clock::time_point at) {
  std::vector<sse_event> out;
  std::size_t pos = 0;
  for (;;) {
    auto end = text.find("\n\n", pos);
    if (end == std::string::npos)
      break;
    auto block = text.substr(pos, end - pos);
    pos = end + 2;
    sse_event e;
    e.at = at;
    std::size_t line_start = 0;
    while (line_start <= block.size()) {
      auto nl = block.find('\n', line_start);
      auto line = block.substr(line_start, nl - line_start);
      if (line.rfind("event: ", 0) == 0)
        e.name = line.substr(7);
      else if (line.rfind("data: ", 0) == 0)
        e.data = json::parse(line.substr(6));
      if (nl == std::string::npos)
        break;
      line_start = nl + 1;
    }
    if (!e.name.empty())
      out.push_back(std::move(e));
  }
  return out;
}

} // namespace

TEST_CASE("an event stream sends non-decreasing progress, then done with the "
          "final batch, then closes") {
  api_options opts;
  opts.workers = 1;
  opts.chunk_size = 5;
  opts.chunk_delay = 100ms;
  api_fixture api{opts};
  api.upload_activities(60);
  auto b = api.submit(activity_ids(60));
  std::string id = b["id"];

  std::vector<sse_event> events;
  std::string buffer;
  auto cli = api.client();
  auto headers = acme.headers();
  httplib::Headers response_headers;
  auto res =
      cli.Get(("/api/v1/batches/" + id + "/events").c_str(), headers,
              [&](const httplib::Response& r) {
                response_headers = r.headers;
                return r.status == 200;
              },
              [&](const char* data, std::size_t n) {
                buffer.append(data, n);
                auto now = std::chrono::steady_clock::now();
                auto cut = buffer.rfind("\n\n");
                if (cut != std::string::npos) {
                  for (auto& e : parse_events(buffer.substr(0, cut + 2), now))
                    events.push_back(std::move(e));
                  buffer.erase(0, cut + 2);
                }
                return true;
              });
  REQUIRE(res); // the server ended the stream
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").rfind("text/event-stream", 0) ==
        0);
  REQUIRE(events.size() >= 3);
  CHECK(events.back().name == "done");
  auto final_batch = events.back().data;
  CHECK(final_batch["id"] == id);
  CHECK(final_batch["status"] == "completed");
  CHECK(final_batch["processed_activities"] == 60);
  std::int64_t last = -1;
  int progress_events = 0;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    const auto& e = events[i];
    REQUIRE(e.name == "progress");
    ++progress_events;
    CHECK(e.data["batch_id"] == id);
    auto processed = e.data["processed"].get<std::int64_t>();
    CHECK(processed >= last);
    last = processed;
  }
  CHECK(progress_events >= 2);
  CHECK(events[events.size() - 2].data["processed"] == 60);
  CHECK(events[events.size() - 2].data["status"] == "completed");
  // No subscriber is left behind.
  CHECK(wait_until([&] { return api.stats().subscribers == 0; }, 5s));
}

TEST_CASE("an event stream of a finished batch sends the final progress and "
          "done at once") {
  api_fixture api;
  auto b = api.submit({"missing"});
  std::string id = b["id"];
  api.wait_for_status(id, "failed");
  auto started = std::chrono::steady_clock::now();
  auto r = api.get("/api/v1/batches/" + id + "/events");
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  REQUIRE(r.status == 200);
  auto events = parse_events(r.body, started);
  REQUIRE(events.size() == 2);
  CHECK(events[0].name == "progress");
  CHECK(events[0].data["status"] == "failed");
  CHECK(events[1].name == "done");
  CHECK(events[1].data["status"] == "failed");
  CHECK(events[1].data["error"].is_string());
}

TEST_CASE("a client that leaves an event stream early is unsubscribed") {
  api_options opts;
  opts.workers = 1;
  opts.chunk_size = 5;
  opts.chunk_delay = 300ms;
  api_fixture api{opts};
  api.upload_activities(200);
  // The only worker is busy with the first batch: the second stays pending
  // and its stream would never end by itself.
  auto busy = api.submit(activity_ids(200));
  api.wait_for_status(busy["id"], "processing");
  auto waiting = api.submit(activity_ids(3));
  std::string id = waiting["id"];

  for (int round = 0; round < 3; ++round) {
    bool got_event = false;
    std::int32_t subscribed = -1;
    std::thread reader([&] {
      auto cli = api.client();
      cli.Get(("/api/v1/batches/" + id + "/events").c_str(), acme.headers(),
              [&](const char* data, std::size_t n) {
                got_event = std::string(data, n).find("event: progress") !=
                            std::string::npos;
                if (got_event)
                  subscribed = api.stats().subscribers;
                return !got_event; // leave after the first event
              });
    });
    reader.join();
    CHECK(got_event);
    CHECK(subscribed == 1);
    CHECK(wait_until([&] { return api.stats().subscribers == 0; }, 10s));
  }
  // It really was still pending: nothing ended the streams but the clients.
  auto now = api.get("/api/v1/batches/" + id).json();
  CHECK(now["status"] == "pending");
  CHECK(healthy(api.port()));
}

TEST_CASE("event streams of unknown, malformed or foreign batches answer "
          "404") {
  api_fixture api;
  auto b = api.submit({"x"});
  std::string id = b["id"];
  check_error(api.get("/api/v1/batches/" + id + "/events", globex), 404,
              "not_found");
  check_error(api.get("/api/v1/batches/00000000-0000-4000-8000-000000000000/"
                      "events"),
              404, "not_found");
  check_error(api.get("/api/v1/batches/nope/events"), 404, "not_found");
  CHECK(wait_until([&] { return api.stats().subscribers == 0; }, 5s));
}

TEST_CASE("an event queue hands out progress at most once per gap, newest "
          "first, and done after the last progress") {
  ogf::http::event_queue queue{100ms};
  auto progress = [](int n) { return json{{"processed", n}}; };
  queue.push_progress(progress(1));
  // The queue stamps a hand-out inside take(); a clock read just before the
  // call is a lower bound of that stamp (read after it, a slow machine made
  // the measured gap look a little shorter than the queue's).
  auto taken_at = std::chrono::steady_clock::now();
  auto first = queue.take(1s);
  REQUIRE(first.kind == ogf::http::stream_event::progress);
  CHECK(first.data["processed"] == 1);
  // A burst: only the newest is kept, and it waits for the gap.
  for (int n = 2; n <= 50; ++n)
    queue.push_progress(progress(n));
  auto second = queue.take(1s);
  CHECK(std::chrono::steady_clock::now() - taken_at >= 100ms);
  REQUIRE(second.kind == ogf::http::stream_event::progress);
  CHECK(second.data["processed"] == 50);
  taken_at = std::chrono::steady_clock::now();
  // done waits for a pending progress, which still keeps the gap. This
  // reference is read after the hand-out's stamp (by the time take() needs
  // to return), hence the 10 ms of slack; without the gap it would be ~0 ms.
  queue.push_progress(progress(60));
  queue.push_done(json{{"status", "completed"}});
  auto third = queue.take(1s);
  CHECK(std::chrono::steady_clock::now() - taken_at >= 90ms);
  REQUIRE(third.kind == ogf::http::stream_event::progress);
  CHECK(third.data["processed"] == 60);
  auto last = queue.take(1s);
  CHECK(last.kind == ogf::http::stream_event::done);
  // Nothing more: late progress is ignored, and an idle take times out.
  queue.push_progress(progress(70));
  CHECK(queue.take(50ms).kind == ogf::http::stream_event::idle);
  queue.close();
  CHECK(queue.take(1s).kind == ogf::http::stream_event::closed);
}
