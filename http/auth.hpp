// Who is calling (internal to http/): the tenancy modes of CONTRACT §4, the
// cache of API keys looked up in the database, and the per-tenant request
// rate limit. The route table's dispatcher (server.cpp) is the one place
// that uses them, for every route, before any handler runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "domain/api_key.hpp"
#include "domain/model.hpp"

namespace ogf::http {

/// How a request's tenant is decided.
enum class auth_mode {
  /// X-Org-ID and X-Workspace-ID name it (local use, or an authenticating
  /// gateway in front).
  headers,
  /// `Authorization: Bearer <token>` names an API key, whose tenant it is.
  keys,
};

/// "headers" or "keys".
const char* to_string(auth_mode m);

/// API keys fetched from the database, each kept for `ttl` (also "no such
/// key"), so that a busy client costs one lookup per ttl, not one per
/// request, and a revocation on any node is seen by every node within ttl
/// plus one lookup. Thread-safe. Bounded: past `capacity` entries, stale
/// ones are dropped first, then all.
class key_cache {
public:
  using clock = std::chrono::steady_clock;

  key_cache(std::chrono::milliseconds ttl, std::size_t capacity);

  /// The key fetched for `id` less than ttl ago (an api_key with an empty
  /// id: there was none); nullopt when it must be fetched.
  std::optional<domain::api_key> find(const std::string& id,
                                      clock::time_point now) const;

  /// Keeps what a lookup of `id` found (an empty id for "none").
  void store(const std::string& id, domain::api_key key, clock::time_point now);

private:
  struct entry {
    domain::api_key key;
    clock::time_point fetched;
  };
  std::chrono::milliseconds ttl_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
};

/// Token buckets, one per tenant: `rate` requests a second, bursts up to
/// twice that (CONTRACT §4). Thread-safe; a rate of 0 lets everything
/// through. Buckets that have filled up again are dropped now and then, so
/// memory follows the tenants active in the last few seconds.
class rate_limiter {
public:
  using clock = std::chrono::steady_clock;

  explicit rate_limiter(double rate);

  /// Takes a token of `t`'s bucket: 0 when there was one, else the whole
  /// seconds (at least 1) until there will be one (the Retry-After).
  int take(const domain::tenant& t, clock::time_point now);

  bool enabled() const { return rate_ > 0; }

private:
  struct bucket {
    double tokens;
    clock::time_point at;
  };
  double rate_;
  double burst_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, bucket> buckets_;
  clock::time_point last_sweep_{};
};

} // namespace ogf::http
