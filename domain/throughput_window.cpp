#include "domain/throughput_window.hpp"

#include <algorithm>

namespace ogf::domain {

namespace {

constexpr std::int64_t bucket_ms = throughput_window::bucket_seconds * 1000;
constexpr auto size =
    static_cast<std::int64_t>(throughput_window::bucket_count);

std::int64_t bucket_of(std::int64_t ms) {
  return ms >= 0 ? ms / bucket_ms : -1;
}

std::size_t slot(std::int64_t bucket) {
  return static_cast<std::size_t>(bucket % size);
}

} // namespace

void throughput_window::add(std::int64_t now_ms, std::int64_t n) {
  auto b = bucket_of(now_ms);
  if (b < 0 || n <= 0)
    return;
  if (newest_ < 0 || b - newest_ >= size) {
    counts_.fill(0);
    newest_ = b;
  } else if (b > newest_) {
    // Buckets between the newest and this one had nothing.
    for (auto k = newest_ + 1; k <= b; ++k)
      counts_[slot(k)] = 0;
    newest_ = b;
  } else if (newest_ - b >= size) {
    return; // older than the window
  }
  counts_[slot(b)] += n;
}

std::vector<std::int64_t>
throughput_window::snapshot(std::int64_t now_ms) const {
  std::vector<std::int64_t> out(bucket_count, 0);
  auto now = bucket_of(now_ms);
  if (newest_ < 0 || now < 0)
    return out;
  // out[i] is bucket now - (size - 1) + i.
  for (std::int64_t i = 0; i < size; ++i) {
    auto b = now - (size - 1) + i;
    if (b >= 0 && b <= newest_ && newest_ - b < size)
      out[static_cast<std::size_t>(i)] = counts_[slot(b)];
  }
  return out;
}

double
throughput_window::per_second_last_minute(const std::vector<std::int64_t>& s,
                                          double into_current_s,
                                          double uptime_s) {
  constexpr std::size_t minute = 60 / bucket_seconds;
  if (s.size() < minute)
    return 0.0;
  std::int64_t sum = 0;
  for (std::size_t i = s.size() - minute; i < s.size(); ++i)
    sum += s[i];
  auto current = std::clamp(into_current_s, 0.0, double(bucket_seconds));
  auto seconds =
      std::min(double(bucket_seconds) * (minute - 1) + current, uptime_s);
  return sum > 0 ? static_cast<double>(sum) / std::max(seconds, 1.0) : 0.0;
}

} // namespace ogf::domain
