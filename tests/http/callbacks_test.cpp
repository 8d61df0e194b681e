// callback_url on submit (CONTRACT §7): what is accepted, what answers 400
// validation_error naming callback_url, and the callback object of the
// batch. Delivery itself is tested in tests/pg/callback_test.cpp.
#include <string>

#include <catch2/catch.hpp>

#include "http/api_fixture.hpp"

using namespace ogf::testing;
using nlohmann::json;

namespace {

api_options callbacks_on(bool allow_private) {
  api_options o;
  o.tune_engine = [allow_private](ogf::engine_config& ec) {
    ec.webhook_secret = "http-test-secret";
    ec.webhook_allow_private = allow_private;
    // deliveries to the made-up targets must not hold the test's end up
    ec.webhook_connect_timeout = std::chrono::milliseconds(200);
    ec.webhook_read_timeout = std::chrono::milliseconds(200);
  };
  o.tune = [allow_private](ogf::http::http_config& hc) {
    hc.webhook_allow_private = allow_private;
  };
  return o;
}

json submit_body(json callback_url) {
  return {{"activity_ids", {"a0000"}}, {"callback_url", callback_url}};
}

} // namespace

TEST_CASE("callback_url answers 400 validation_error naming it when it is "
          "malformed, too long, not http or https, or a non-public address") {
  api_fixture api{callbacks_on(false)};
  const std::string long_url =
      "https://example.com/" + std::string(2048 - 20 + 1, 'x');
  for (const json& bad : {json(42),
                          json(true),
                          json(json::object()),
                          json(""),
                          json("ftp://example.com/x"),
                          json("example.com/hook"),
                          json("http://"),
                          json("http:///path"),
                          json("http://user:pw@example.com/"),
                          json("http://example.com/#fragment"),
                          json("http://example.com:0/"),
                          json("http://example.com:99999/"),
                          json("http://exa mple.com/"),
                          json("http://[::1/"),
                          json(long_url),
                          json("http://127.0.0.1/hook"),
                          json("http://127.1.2.3:8080/"),
                          json("http://10.0.0.1/"),
                          json("http://172.20.0.1/"),
                          json("http://192.168.1.1/"),
                          json("http://169.254.169.254/latest/meta-data/"),
                          json("http://0.0.0.0/"),
                          json("http://[::1]/"),
                          json("http://[fe80::1]/"),
                          json("http://[fd12:3456::1]/"),
                          json("http://[::ffff:10.0.0.1]/"),
                          json("http://100.64.0.1/")}) {
    INFO(bad.dump());
    check_error(api.post_json("/api/v1/batches", submit_body(bad)), 400,
                "validation_error", std::string("callback_url"));
  }
  CHECK(api.get("/api/v1/batches").json()["batches"].empty());
}

TEST_CASE("callback_url naming localhost, a .localhost name or loopback in "
          "any IPv4 or IPv6 spelling answers 400 unless private targets "
          "are allowed") {
  const char* loopback[] = {"http://localhost/hook",
                            "http://LocalHost:8080/hook",
                            "http://localhost./hook",
                            "https://localhost../",
                            "http://api.localhost/hook",
                            "http://api.localhost./",
                            "http://127.1/",
                            "http://127.0.1:9/",
                            "http://0x7f.0.0.1/",
                            "http://0x7f000001/",
                            "http://2130706433/",
                            "http://0177.0.0.1/",
                            "http://127.0.0.1./",
                            "http://[::1]/",
                            "http://[0:0:0:0:0:0:0:1]:8080/",
                            "http://[::ffff:127.0.0.1]/",
                            "http://[::ffff:7f00:1]/",
                            "http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/",
                            "http://10.1/"};
  {
    api_fixture api{callbacks_on(false)};
    for (const char* url : loopback) {
      INFO(url);
      auto r = api.post_json("/api/v1/batches", submit_body(url));
      check_error(r, 400, "validation_error", std::string("callback_url"));
    }
    CHECK(api.get("/api/v1/batches").json()["batches"].empty());
    // names that merely contain "localhost" are resolved at delivery
    for (const char* url :
         {"https://localhost.example.com/", "https://mylocalhost.com/"}) {
      INFO(url);
      CHECK(api.post_json("/api/v1/batches", submit_body(url)).status == 201);
    }
  }
  api_fixture allowing{callbacks_on(true)};
  for (const char* url : loopback) {
    INFO(url);
    CHECK(allowing.post_json("/api/v1/batches", submit_body(url)).status ==
          201);
  }
}

TEST_CASE("a batch with a callback_url shows its callback object, pending "
          "with no attempts, and one without has callback null") {
  api_fixture api{callbacks_on(false)};
  api.upload_activities(2);
  // 2,048 bytes exactly, a host name (checked on its addresses at delivery)
  const std::string url = "https://hooks.example.com/ogf?tenant=acme&x=" +
                          std::string(2048 - 44, 'y');
  REQUIRE(url.size() == 2048);
  auto with = api.submit({"a0000"}, acme, {{"callback_url", url}});
  CHECK(with["callback"] == json{{"url", url},
                                 {"status", "pending"},
                                 {"attempts", 0},
                                 {"last_error", nullptr}});
  auto without = api.submit({"a0001"});
  REQUIRE(without.contains("callback"));
  CHECK(without["callback"].is_null());
  auto got = api.get("/api/v1/batches/" + with["id"].get<std::string>());
  CHECK(got.json()["callback"]["url"] == url);
  auto list = api.get("/api/v1/batches").json()["batches"];
  REQUIRE(list.size() == 2);
  CHECK(list[1]["callback"]["url"] == url);
  REQUIRE(list[0].contains("callback"));
  CHECK(list[0]["callback"].is_null());

  // The callback is part of the request an Idempotency-Key stands for.
  httplib::Headers key{{"Idempotency-Key", "cb-key-1"}};
  CHECK(api.post_json("/api/v1/batches",
                      {{"activity_ids", {"a0000"}}, {"callback_url", url}},
                      acme, key)
            .status == 201);
  check_error(api.post_json("/api/v1/batches",
                            {{"activity_ids", {"a0000"}},
                             {"callback_url", "https://other.example.com/"}},
                            acme, key),
              422, "idempotency_key_reused");
}

TEST_CASE("callback_url is taken without a webhook secret too, and private "
          "addresses are taken with --webhook-allow-private") {
  {
    api_fixture plain; // no webhook secret, no --webhook-allow-private
    auto r = plain.post_json("/api/v1/batches",
                             submit_body("https://example.com/hook"));
    REQUIRE(r.status == 201);
    CHECK(r.json()["callback"] == json{{"url", "https://example.com/hook"},
                                       {"status", "pending"},
                                       {"attempts", 0},
                                       {"last_error", nullptr}});
    check_error(plain.post_json("/api/v1/batches",
                                submit_body("http://localhost/hook")),
                400, "validation_error", std::string("callback_url"));
  }
  api_fixture api{callbacks_on(true)};
  for (const char* url : {"http://127.0.0.1:9/hook", "http://[::1]:9/",
                          "http://10.0.0.1/", "http://localhost:9/"}) {
    INFO(url);
    CHECK(api.post_json("/api/v1/batches", submit_body(url)).status == 201);
  }
}
