// Pure parts behind the dashboard: the throughput window of the node view,
// the dashboard's path rules, ETag matching, and the JSON of batch counts
// and emissions by scope.
#include <catch2/catch.hpp>

#include "domain/exact_json.hpp"
#include "domain/json_mapping.hpp"
#include "domain/throughput_window.hpp"
#include "http/dashboard.hpp"

using ogf::domain::throughput_window;

TEST_CASE("throughput window: counts land in 10-second buckets, oldest "
          "first, and fall out after 10 minutes") {
  throughput_window w;
  const std::int64_t t0 = 1'000'000'000; // a bucket boundary
  CHECK(w.snapshot(t0) == std::vector<std::int64_t>(60, 0));
  w.add(t0, 5);
  w.add(t0 + 9'999, 2);  // same bucket
  w.add(t0 + 10'000, 1); // next one
  auto s = w.snapshot(t0 + 10'000);
  REQUIRE(s.size() == 60);
  CHECK(s[59] == 1);
  CHECK(s[58] == 7);
  CHECK(s[57] == 0);
  // A minute later the same counts have moved six buckets back.
  auto later = w.snapshot(t0 + 70'000);
  CHECK(later[52] == 7);
  CHECK(later[53] == 1);
  CHECK(later[59] == 0);
  // After a gap, buckets in between read 0, not what was there 10 minutes
  // before.
  w.add(t0 + 30'000, 4);
  auto gap = w.snapshot(t0 + 30'000);
  CHECK(gap[59] == 4);
  CHECK(gap[58] == 0);
  CHECK(gap[57] == 1);
  CHECK(gap[56] == 7);
  // Ten minutes on, the old ones are gone.
  auto gone = w.snapshot(t0 + 30'000 + 600'000);
  CHECK(gone == std::vector<std::int64_t>(60, 0));
  // A count older than the window is dropped; a long gap clears the ring.
  w.add(t0 + 2'000'000, 3);
  w.add(t0, 100);
  auto after_gap = w.snapshot(t0 + 2'000'000);
  std::int64_t sum = 0;
  for (auto n : after_gap)
    sum += n;
  CHECK(sum == 3);
  CHECK(after_gap[59] == 3);
}

TEST_CASE("throughput window: per second over the last minute, the bucket "
          "in progress included") {
  std::vector<std::int64_t> s(60, 0);
  s[59] = 500; // in progress, 5 s of it gone
  for (std::size_t i = 54; i < 59; ++i)
    s[i] = 100;
  s[53] = 5000; // older than a minute
  // 1000 activities over 50 s + 5 s.
  CHECK(throughput_window::per_second_last_minute(s, 5.0, 3600.0) ==
        Approx(1000.0 / 55.0));
  // A node up for 20 s divides by 20 s.
  CHECK(throughput_window::per_second_last_minute(s, 5.0, 20.0) ==
        Approx(1000.0 / 20.0));
  // Nothing done: 0, whatever the times.
  CHECK(throughput_window::per_second_last_minute(
            std::vector<std::int64_t>(60, 0), 0.0, 0.0) == 0.0);
  CHECK(throughput_window::per_second_last_minute({}, 5.0, 100.0) == 0.0);
  // Just after a boundary, on a fresh node: no division by ~0.
  std::vector<std::int64_t> fresh(60, 0);
  fresh[59] = 7;
  CHECK(throughput_window::per_second_last_minute(fresh, 0.0, 0.2) ==
        Approx(7.0));
}

TEST_CASE("dashboard paths: redirects, files, and what is not the "
          "dashboard's") {
  using kind = ogf::http::ui_path::kind;
  CHECK(ogf::http::match_ui_path("/").what == kind::redirect);
  CHECK(ogf::http::match_ui_path("/ui").what == kind::redirect);
  auto index = ogf::http::match_ui_path("/ui/");
  CHECK(index.what == kind::asset);
  CHECK(index.asset == "index.html");
  auto app = ogf::http::match_ui_path("/ui/app.js");
  CHECK(app.what == kind::asset);
  CHECK(app.asset == "app.js");
  CHECK(std::string(app.label) == "/ui/{asset}");
  CHECK(ogf::http::match_ui_path("/api/v1/health").what == kind::none);
  CHECK(ogf::http::match_ui_path("/uix").what == kind::none);
  CHECK(ogf::http::match_ui_path("").what == kind::none);

  for (const char* good : {"index.html", "app.js", "a-b_c.1.css", "x"})
    CHECK(ogf::http::valid_asset_name(good));
  for (const char* bad : {"", ".", "..", ".env", "../x", "a/b", "a\\b", "a%2fb",
                          "a b", "\xc3\xa9.js"})
    CHECK_FALSE(ogf::http::valid_asset_name(bad));
  CHECK_FALSE(ogf::http::valid_asset_name(std::string("a\0b", 3)));
  CHECK_FALSE(ogf::http::valid_asset_name(std::string(129, 'a')));
  CHECK_FALSE(
      ogf::http::find_ui_asset("../CMakeLists.txt", OGF_SOURCE_DIR "/ui"));

  CHECK(ogf::http::ui_content_type("a.js") == "text/javascript; charset=utf-8");
  CHECK(ogf::http::ui_content_type("a.css") == "text/css; charset=utf-8");
  CHECK(ogf::http::ui_content_type("a.html") == "text/html; charset=utf-8");
  CHECK(ogf::http::ui_content_type("a.svg") == "image/svg+xml");
  CHECK(ogf::http::ui_content_type("js") == "application/octet-stream");
  CHECK(ogf::http::ui_content_type("a.exe") == "application/octet-stream");
}

TEST_CASE("ETag matching: strong and weak tags, lists and the star") {
  using ogf::http::etag_matches;
  CHECK(etag_matches("\"abc\"", "\"abc\""));
  CHECK(etag_matches("W/\"abc\"", "\"abc\""));
  CHECK(etag_matches("\"x\", \"abc\"", "\"abc\""));
  CHECK(etag_matches(" \"x\" ,W/\"abc\" ", "\"abc\""));
  CHECK(etag_matches("*", "\"abc\""));
  CHECK_FALSE(etag_matches("\"abcd\"", "\"abc\""));
  CHECK_FALSE(etag_matches("abc", "\"abc\""));
  CHECK_FALSE(etag_matches("", "\"abc\""));
  CHECK_FALSE(etag_matches(",,", "\"abc\""));
}

TEST_CASE("JSON of batch counts and of emissions by scope") {
  using namespace ogf::domain;
  batch_counts c;
  c.by_status = {{batch_status::failed, 2}, {batch_status::pending, 5}};
  auto j = to_json(c);
  CHECK(j["total"] == 7);
  CHECK(j["counts"].size() == 6);
  CHECK(j["counts"]["failed"] == 2);
  CHECK(j["counts"]["pending"] == 5);
  CHECK(j["counts"]["completed"] == 0);

  batch_emissions e;
  e.batch_id = "b";
  e.scopes = {{3, 2, "0.100000"}, {1, 1, "12345678901234567.000001"}};
  auto text = dump_exact(to_json(e));
  CHECK(text == "{\"batch_id\":\"b\",\"scopes\":["
                "{\"emissions_kg_co2e\":12345678901234567.000001,\"items\":1,"
                "\"scope\":1},"
                "{\"emissions_kg_co2e\":0,\"items\":0,\"scope\":2},"
                "{\"emissions_kg_co2e\":0.100000,\"items\":2,\"scope\":3}],"
                "\"total_emissions_kg_co2e\":12345678901234567.100001}");
}
