// Activities finished per 10-second bucket over the last 10 minutes, for
// the node view of the dashboard (GET /api/v1/node). Pure: the caller
// passes the time, so tests need no clock.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace ogf::domain {

/// A ring of counts by time bucket; times are milliseconds of a monotonic
/// clock. Counts added for a time older than the window are dropped.
class throughput_window {
public:
  /// Width of one bucket, in seconds.
  static constexpr std::int64_t bucket_seconds = 10;
  /// Buckets kept: 60 of 10 s, the last 10 minutes.
  static constexpr std::size_t bucket_count = 60;

  /// Counts `n` activities finished at `now_ms`.
  void add(std::int64_t now_ms, std::int64_t n);

  /// The counts at `now_ms`, oldest bucket first; the last one is the
  /// bucket `now_ms` falls in (still filling). Always bucket_count long.
  std::vector<std::int64_t> snapshot(std::int64_t now_ms) const;

  /// Activities a second over the last minute: the bucket in progress
  /// (`into_current_s` seconds of it gone) and the five before it, or over
  /// `uptime_s` when the node has run for less than that.
  static double per_second_last_minute(const std::vector<std::int64_t>& snap,
                                       double into_current_s, double uptime_s);

private:
  std::array<std::int64_t, bucket_count> counts_{};
  /// The bucket number (ms / bucket width) of counts_[newest_ % size];
  /// -1 before the first add.
  std::int64_t newest_ = -1;
};

} // namespace ogf::domain
