#include "http/auth.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ogf::http {

const char* to_string(auth_mode m) {
  return m == auth_mode::keys ? "keys" : "headers";
}

// -- key_cache ----------------------------------------------------------------

key_cache::key_cache(std::chrono::milliseconds ttl, std::size_t capacity)
    : ttl_(ttl), capacity_(capacity == 0 ? 1 : capacity) {}

std::optional<domain::api_key> key_cache::find(const std::string& id,
                                               clock::time_point now) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = entries_.find(id);
  if (it == entries_.end() || now - it->second.fetched >= ttl_)
    return std::nullopt;
  return it->second.key;
}

void key_cache::store(const std::string& id, domain::api_key key,
                      clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (entries_.size() >= capacity_ && entries_.count(id) == 0) {
    // Stale entries first, then "no such key" answers (a flood of made-up
    // key ids must not push out the keys of real clients), then all.
    for (auto it = entries_.begin(); it != entries_.end();)
      it =
          now - it->second.fetched >= ttl_ ? entries_.erase(it) : std::next(it);
    for (auto it = entries_.begin();
         entries_.size() >= capacity_ && it != entries_.end();)
      it = it->second.key.id.empty() ? entries_.erase(it) : std::next(it);
    if (entries_.size() >= capacity_)
      entries_.clear();
  }
  entries_[id] = entry{std::move(key), now};
}

// -- rate_limiter -------------------------------------------------------------

rate_limiter::rate_limiter(double rate)
    : rate_(rate > 0 ? rate : 0),
      // At least one whole request: a rate under 0.5/s must still let one
      // through now and then.
      burst_(rate > 0 ? std::max(1.0, 2 * rate) : 0) {}

int rate_limiter::take(const domain::tenant& t, clock::time_point now) {
  if (rate_ <= 0)
    return 0;
  std::lock_guard<std::mutex> guard{mutex_};
  // Now and then, drop buckets that are full again: they behave exactly
  // like a new one.
  if (now - last_sweep_ >= std::chrono::seconds(10)) {
    last_sweep_ = now;
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      double secs = std::chrono::duration<double>(now - it->second.at).count();
      it = it->second.tokens + secs * rate_ >= burst_ ? buckets_.erase(it)
                                                      : std::next(it);
    }
  }
  auto [it, fresh] =
      buckets_.try_emplace({t.org_id, t.workspace_id}, bucket{burst_, now});
  auto& b = it->second;
  if (!fresh) {
    double secs = std::chrono::duration<double>(now - b.at).count();
    if (secs > 0) {
      b.tokens = std::min(burst_, b.tokens + secs * rate_);
      b.at = now;
    }
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / rate_)));
}

} // namespace ogf::http
