// The dashboard's side of the server (CONTRACT §6, docs/dashboard.md): its
// files with their security and caching headers, and the three read
// routes it needs (batch counts, emissions by scope, the node's figures).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <catch2/catch.hpp>

#include "domain/decimal.hpp"
#include "domain/time.hpp"
#include "http/api_fixture.hpp"
#include "http/dashboard.hpp"

using namespace ogf::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string read_whole(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A GET without tenant headers (the dashboard's files are public).
reply get_plain(api_fixture& api, const std::string& path,
                httplib::Headers h = {}) {
  return api.send("GET", path, "", "", h);
}

/// Sums decimal texts exactly.
std::string sum_decimals(const std::vector<std::string>& values) {
  auto total = ogf::domain::decimal::parse("0");
  for (const auto& v : values)
    total = *total + *ogf::domain::decimal::parse(v);
  return total->to_string();
}

bool same_decimal(const json& number, const std::string& text) {
  auto a = ogf::domain::decimal::parse(number.dump());
  auto b = ogf::domain::decimal::parse(text);
  return a && b && *a == *b;
}

} // namespace

TEST_CASE("dashboard: every file of ui/ is served as built, with the "
          "security headers, an ETag and a 304 on revalidation") {
  api_fixture api;
  const auto& files = ogf::http::embedded_ui_files();
  std::filesystem::path ui = OGF_SOURCE_DIR "/ui";
  std::size_t on_disk = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ui))
    if (entry.is_regular_file() &&
        entry.path().filename().string().front() != '.')
      ++on_disk;
  REQUIRE(on_disk >= 3);
  CHECK(files.size() == on_disk);
  bool has_index = false;
  for (const auto& f : files) {
    std::string name = f.name;
    has_index = has_index || name == "index.html";
    INFO(name);
    auto r = get_plain(api, "/ui/" + name);
    REQUIRE(r.status == 200);
    CHECK(r.body == read_whole(ui / name));
    CHECK(r.header("Content-Type") == ogf::http::ui_content_type(name));
    CHECK(r.header("Content-Type") != "application/octet-stream");
    auto csp = r.header("Content-Security-Policy");
    CHECK(csp.find("default-src 'self'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe-inline") == std::string::npos);
    CHECK(r.header("X-Content-Type-Options") == "nosniff");
    CHECK(r.header("X-Frame-Options") == "DENY");
    CHECK(r.header("Cache-Control") == "no-cache");
    auto etag = r.header("ETag");
    REQUIRE(etag.size() > 2);
    CHECK(etag == f.etag);
    auto again = get_plain(api, "/ui/" + name, {{"If-None-Match", etag}});
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    auto weak = get_plain(api, "/ui/" + name,
                          {{"If-None-Match", "\"other\", W/" + etag}});
    CHECK(weak.status == 304);
    auto stale = get_plain(api, "/ui/" + name, {{"If-None-Match", "\"old\""}});
    CHECK(stale.status == 200);
    CHECK(stale.body == r.body);
  }
  CHECK(has_index);
  // /ui/ is index.html; / and /ui send the browser there.
  auto index = get_plain(api, "/ui/");
  REQUIRE(index.status == 200);
  CHECK(index.body == read_whole(ui / "index.html"));
  CHECK(index.header("Content-Type") == "text/html; charset=utf-8");
  for (const char* path : {"/", "/ui"}) {
    INFO(path);
    auto r = get_plain(api, path);
    CHECK(r.status == 302);
    CHECK(r.header("Location") == "/ui/");
  }
  // HEAD answers like GET, without a body.
  auto head = api.send("HEAD", "/ui/index.html", "", "", {});
  CHECK(head.status == 200);
  CHECK(head.header("ETag") == index.header("ETag"));
}

TEST_CASE("dashboard: no path reaches a file outside ui/, and writes are "
          "refused") {
  api_fixture api;
  for (const char* path :
       {"/ui/nothing.js", "/ui/..%2fCMakeLists.txt", "/ui/%2e%2e%2fREADME.md",
        "/ui/.hidden", "/ui/sub/index.html", "/ui/index.html%00.js",
        "/ui//index.html", "/uiindex.html"}) {
    INFO(path);
    auto r = get_plain(api, path);
    check_error(r, 404, "not_found");
  }
  auto post = api.send("POST", "/ui/index.html", "{}", "application/json", {});
  check_error(post, 405, "method_not_allowed");
  CHECK(post.header("Allow") == "GET");
  auto del = api.send("DELETE", "/", "", "", {});
  check_error(del, 405, "method_not_allowed");
  // The API keeps its own answers, and says nosniff too.
  auto api_404 = get_plain(api, "/api/v1/nothing");
  check_error(api_404, 404, "not_found");
  CHECK(api_404.header("X-Content-Type-Options") == "nosniff");
  CHECK(api_404.header("Content-Security-Policy").empty());
}

TEST_CASE("dashboard: with a ui_dir the files are read from it at each "
          "request, and only plain names in it are served") {
  auto dir = std::filesystem::temp_directory_path() /
             ("ogf-ui-dir-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "sub");
  {
    std::ofstream(dir / "app.js") << "export const v = 1;\n";
    std::ofstream(dir / "sub" / "x.js") << "nested\n";
    std::ofstream(dir / "notes.md") << "x\n";
    std::ofstream(dir / "CMakeLists.txt") << "x\n";
  }
  // A link to a file elsewhere is not followed, whatever its name.
  std::filesystem::create_symlink(OGF_SOURCE_DIR "/README.md", dir / "leak.js");
  api_options o;
  o.tune = [&](ogf::http::http_config& c) { c.ui_dir = dir.string(); };
  {
    api_fixture api{o};
    auto first = get_plain(api, "/ui/app.js");
    REQUIRE(first.status == 200);
    CHECK(first.body == "export const v = 1;\n");
    CHECK(first.header("Content-Type") == "text/javascript; charset=utf-8");
    { std::ofstream(dir / "app.js") << "export const v = 2;\n"; }
    auto second = get_plain(api, "/ui/app.js");
    CHECK(second.body == "export const v = 2;\n");
    CHECK(second.header("ETag") != first.header("ETag"));
    check_error(get_plain(api, "/ui/sub"), 404, "not_found");
    check_error(get_plain(api, "/ui/sub%2fx.js"), 404, "not_found");
    check_error(get_plain(api, "/ui/index.html"), 404, "not_found");
    // Only the dashboard's kinds of file, never through a link.
    check_error(get_plain(api, "/ui/notes.md"), 404, "not_found");
    check_error(get_plain(api, "/ui/CMakeLists.txt"), 404, "not_found");
    check_error(get_plain(api, "/ui/leak.js"), 404, "not_found");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("dashboard: the files are public in keys mode, the data is not") {
  api_options o;
  o.tune = [](ogf::http::http_config& c) {
    c.auth = ogf::http::auth_mode::keys;
  };
  api_fixture api{o};
  CHECK(get_plain(api, "/ui/").status == 200);
  auto config = get_plain(api, "/ui/config.json");
  REQUIRE(config.status == 200);
  CHECK(config.json() == json{{"auth", "keys"}});
  CHECK(config.header("Content-Type") == "application/json; charset=utf-8");
  CHECK(config.header("Content-Security-Policy").find("default-src 'self'") !=
        std::string::npos);
  for (const char* path : {"/api/v1/batch-counts", "/api/v1/node"}) {
    INFO(path);
    auto r = get_plain(api, path);
    check_error(r, 401, "unauthenticated");
    CHECK(r.header("WWW-Authenticate") == "Bearer");
  }
}

TEST_CASE("batch counts: a tenant's batches by status, nobody else's") {
  api_fixture api;
  auto empty = api.get("/api/v1/batch-counts");
  REQUIRE(empty.status == 200);
  CHECK(empty.header("Cache-Control") == "no-store");
  CHECK(empty.json() == json{{"counts",
                              {{"pending", 0},
                               {"queued", 0},
                               {"processing", 0},
                               {"completed", 0},
                               {"failed", 0},
                               {"cancelled", 0}}},
                             {"total", 0}});
  api.upload_activities(4);
  auto done = api.submit({"a0000"})["id"].get<std::string>();
  api.wait_for_status(done, "completed");
  auto bad = api.submit({"a0001", "missing-1"})["id"].get<std::string>();
  api.wait_for_status(bad, "failed");
  // Scheduled an hour ahead, so that it is still pending when the cancel
  // comes (a one-activity batch may otherwise be done first).
  auto cancelled =
      api.submit(
             {"a0002"}, acme,
             {{"run_after", ogf::domain::format_rfc3339_ms(
                                ogf::domain::now_us() + 3'600'000'000)}})["id"]
          .get<std::string>();
  auto cancel = api.post_json("/api/v1/batches/" + cancelled + "/cancel", {});
  REQUIRE(cancel.status == 200);
  api.wait_for_status(cancelled, "cancelled");
  auto last = api.submit({"a0003"})["id"].get<std::string>();
  api.wait_for_status(last, "completed");
  // Another tenant's batch counts only for that tenant.
  api.upload_activities(1, globex);
  api.submit({"a0000"}, globex);

  auto c = api.get("/api/v1/batch-counts").json();
  auto list = api.get("/api/v1/batches?limit=100").json()["batches"];
  std::map<std::string, std::int64_t> listed;
  for (const auto& b : list)
    ++listed[b["status"].get<std::string>()];
  INFO(c.dump());
  CHECK(c["total"] == 4);
  CHECK(c["counts"]["completed"] == 2);
  CHECK(c["counts"]["failed"] == 1);
  CHECK(c["counts"]["cancelled"] == 1);
  std::int64_t sum = 0;
  for (const auto& [status, n] : c["counts"].items()) {
    INFO(status);
    CHECK(n.get<std::int64_t>() == listed[status]);
    sum += n.get<std::int64_t>();
  }
  CHECK(sum == 4);
  auto g = api.get("/api/v1/batch-counts", globex).json();
  CHECK(g["total"] == 1);
  check_error(api.get("/api/v1/batch-counts?status=failed"), 400,
              "unknown_field", "status");
}

TEST_CASE("batch emissions: succeeded items summed exactly by scope, 404 "
          "for another tenant's batch") {
  api_fixture api;
  // Scope 1 (natural gas), 2 (electricity) and 3 (air travel), US.
  json rows = json::array();
  auto row = [&](const std::string& id, const char* type, const char* unit,
                 const char* quantity) {
    rows.push_back({{"id", id},
                    {"activity_type", type},
                    {"quantity", json::parse(quantity)},
                    {"unit", unit},
                    {"region", "US"},
                    {"period_start", "2025-01-01"},
                    {"period_end", "2025-01-31"}});
  };
  row("gas-1", "natural_gas", "MMBtu", "12.5");
  row("gas-2", "natural_gas", "MMBtu", "0.333");
  row("power-1", "electricity", "kWh", "1234.5");
  row("flight-1", "air_travel_short_haul", "pmi", "420");
  REQUIRE(api.post_json("/api/v1/activities", {{"activities", rows}}).status ==
          200);
  auto id =
      api.submit({"gas-1", "gas-2", "power-1", "flight-1", "missing"})["id"]
          .get<std::string>();
  auto batch = api.wait_for_status(id);
  REQUIRE(batch["status"] == "failed"); // "missing" does not exist

  auto r = api.get("/api/v1/batches/" + id + "/emissions");
  REQUIRE(r.status == 200);
  auto e = r.json();
  INFO(r.body);
  CHECK(e["batch_id"] == id);
  REQUIRE(e["scopes"].size() == 3);
  // The same figures as the items, summed here.
  auto items = api.get("/api/v1/batches/" + id + "/items?limit=1000").json();
  std::map<int, std::vector<std::string>> by_scope;
  std::vector<std::string> all;
  for (const auto& it : items["items"]) {
    if (it["status"] != "succeeded")
      continue;
    auto kg = it["emissions_kg_co2e"].dump();
    by_scope[it["scope"].get<int>()].push_back(kg);
    all.push_back(kg);
  }
  REQUIRE(all.size() == 4);
  for (int scope = 1; scope <= 3; ++scope) {
    const auto& s = e["scopes"][scope - 1];
    INFO("scope " << scope);
    CHECK(s["scope"] == scope);
    CHECK(s["items"] == by_scope[scope].size());
    CHECK(same_decimal(s["emissions_kg_co2e"], sum_decimals(by_scope[scope])));
  }
  CHECK(by_scope[1].size() == 2);
  CHECK(same_decimal(e["total_emissions_kg_co2e"], sum_decimals(all)));
  CHECK(same_decimal(e["total_emissions_kg_co2e"],
                     batch["total_emissions_kg_co2e"].dump()));

  check_error(api.get("/api/v1/batches/" + id + "/emissions", globex), 404,
              "not_found");
  check_error(
      api.get("/api/v1/batches/00000000-0000-4000-8000-000000000000/emissions"),
      404, "not_found");
  check_error(api.get("/api/v1/batches/nope/emissions"), 404, "not_found");

  // After a retry the item that failed succeeds on its second attempt: it
  // counts once, with the ones that succeeded the first time.
  row("missing", "natural_gas", "MMBtu", "2");
  REQUIRE(api.post_json("/api/v1/activities",
                        {{"activities", json::array({rows.back()})}})
              .status == 200);
  REQUIRE(api.post_json("/api/v1/batches/" + id + "/retry", json::object())
              .status == 200);
  auto retried = api.wait_for_status(id);
  REQUIRE(retried["status"] == "completed");
  auto after_retry = api.get("/api/v1/batches/" + id + "/emissions").json();
  auto items_after =
      api.get("/api/v1/batches/" + id + "/items?limit=1000").json();
  std::vector<std::string> scope1, everything;
  for (const auto& it : items_after["items"]) {
    REQUIRE(it["status"] == "succeeded");
    everything.push_back(it["emissions_kg_co2e"].dump());
    if (it["scope"] == 1)
      scope1.push_back(it["emissions_kg_co2e"].dump());
  }
  CHECK(after_retry["scopes"][0]["items"] == 3);
  CHECK(same_decimal(after_retry["scopes"][0]["emissions_kg_co2e"],
                     sum_decimals(scope1)));
  CHECK(same_decimal(after_retry["total_emissions_kg_co2e"],
                     sum_decimals(everything)));
  CHECK(same_decimal(after_retry["total_emissions_kg_co2e"],
                     retried["total_emissions_kg_co2e"].dump()));

  // A batch with nothing succeeded yet has three zero scopes.
  auto none = api.submit({"missing-too"})["id"].get<std::string>();
  api.wait_for_status(none);
  auto z = api.get("/api/v1/batches/" + none + "/emissions").json();
  for (const auto& s : z["scopes"]) {
    CHECK(s["items"] == 0);
    CHECK(same_decimal(s["emissions_kg_co2e"], "0"));
  }
  CHECK(same_decimal(z["total_emissions_kg_co2e"], "0"));
}

TEST_CASE("node: health figures and this node's activities per 10 s, "
          "to any tenant and without tenant data") {
  api_fixture api;
  CHECK(get_plain(api, "/ui/config.json").json() == json{{"auth", "headers"}});
  check_error(get_plain(api, "/api/v1/node"), 401, "unauthenticated");
  auto before = api.get("/api/v1/node");
  REQUIRE(before.status == 200);
  CHECK(before.header("Cache-Control") == "no-store");
  auto b = before.json();
  CHECK(b["status"] == "ok");
  CHECK(b["scheduler"]["workers"] == 2);
  CHECK(b["throughput"]["bucket_seconds"] == 10);
  REQUIRE(b["throughput"]["buckets"].size() == 60);
  std::int64_t first_total = 0;
  for (const auto& n : b["throughput"]["buckets"])
    first_total += n.get<std::int64_t>();
  CHECK(first_total == 0);
  CHECK(b["activities"]["succeeded"] == 0);

  api.upload_activities(120);
  auto id = api.submit(activity_ids(120))["id"].get<std::string>();
  api.wait_for_status(id, "completed");
  auto missing =
      api.submit({"missing-1", "missing-2"})["id"].get<std::string>();
  api.wait_for_status(missing, "failed");

  // Figures of the node: another tenant sees the same counts.
  auto after = api.get("/api/v1/node", globex).json();
  std::int64_t total = 0;
  for (const auto& n : after["throughput"]["buckets"])
    total += n.get<std::int64_t>();
  CHECK(total == 122);
  CHECK(after["activities"]["succeeded"] == 120);
  CHECK(after["activities"]["failed"] == 2);
  // Done within the last minute: a rate above 0 at once, not after the
  // bucket closes.
  CHECK(after["throughput"]["per_second_last_minute"].get<double>() > 0.0);
  CHECK(after.dump().find("acme") == std::string::npos);
  for (const char* key : {"node_id", "version", "uptime_seconds", "database"})
    CHECK(after.contains(key));
}
