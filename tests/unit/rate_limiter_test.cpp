#include <catch2/catch.hpp>

#include "http/auth.hpp"

using namespace ogf;
using namespace std::chrono_literals;

TEST_CASE("a tenant's bucket holds twice the rate, refills at the rate, and "
          "other tenants have their own") {
  http::rate_limiter limiter{5};
  auto t0 = http::rate_limiter::clock::now();
  domain::tenant a{"acme", "main"}, b{"globex", "main"};
  for (int i = 0; i < 10; ++i)
    CHECK(limiter.take(a, t0) == 0);
  CHECK(limiter.take(a, t0) == 1); // empty: one token comes in 0.2 s
  CHECK(limiter.take(b, t0) == 0);
  CHECK(limiter.take(a, t0 + 200ms) == 0);
  CHECK(limiter.take(a, t0 + 200ms) == 1);
}

TEST_CASE("a rate under 0.5 a second still lets a request through now and "
          "then, and 0 lets everything through") {
  http::rate_limiter slow{0.2};
  auto t0 = http::rate_limiter::clock::now();
  domain::tenant a{"acme", "main"};
  CHECK(slow.take(a, t0) == 0);
  auto wait = slow.take(a, t0);
  CHECK(wait == 5);
  CHECK(slow.take(a, t0 + 5s) == 0);
  http::rate_limiter off{0};
  for (int i = 0; i < 1000; ++i)
    CHECK(off.take(a, t0) == 0);
}

TEST_CASE("the key cache keeps real keys when made-up ids fill it") {
  http::key_cache cache{2s, 100};
  auto t0 = http::key_cache::clock::now();
  domain::api_key real;
  real.id = "0123456789abcdef";
  cache.store(real.id, real, t0);
  for (int i = 0; i < 500; ++i)
    cache.store("made-up-" + std::to_string(i), domain::api_key{}, t0);
  auto found = cache.find(real.id, t0 + 1s);
  REQUIRE(found);
  CHECK(found->id == real.id);
  CHECK_FALSE(cache.find(real.id, t0 + 2s)); // past the TTL: ask again
}
