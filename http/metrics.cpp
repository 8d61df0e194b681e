#include "http/metrics.hpp"

#include <mutex>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace ogf::http {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

/// Request latency buckets, 1 ms .. 10 s.
const prometheus::Histogram::BucketBoundaries latency_buckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/// A Prometheus counter fed from a cumulative engine counter: adds what the
/// engine counted since the last scrape.
struct mirrored_counter {
  prometheus::Counter* counter = nullptr;
  std::int64_t seen = 0;

  void update(std::int64_t total) {
    if (total > seen)
      counter->Increment(static_cast<double>(total - seen));
    seen = total;
  }
};

} // namespace

struct http_metrics::impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      BuildCounter()
          .Name("ogf_http_requests_total")
          .Help("HTTP requests answered, by route template, method and status")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& durations =
      BuildHistogram()
          .Name("ogf_http_request_duration_seconds")
          .Help(
              "Time from reading a request to the end of its answer, by route "
              "template")
          .Register(registry);
  prometheus::Counter& submitted =
      BuildCounter()
          .Name("ogf_batches_submitted_total")
          .Help("Batches created through this server's API")
          .Register(registry)
          .Add({});
  prometheus::Gauge& workers_busy =
      BuildGauge()
          .Name("ogf_workers_busy")
          .Help("Workers of this node processing a batch")
          .Register(registry)
          .Add({});
  prometheus::Gauge& workers_total = BuildGauge()
                                         .Name("ogf_workers_total")
                                         .Help("Workers of this node")
                                         .Register(registry)
                                         .Add({});
  prometheus::Gauge& queue_depth =
      BuildGauge()
          .Name("ogf_queue_depth")
          .Help("Pending batches that are due, in the whole database")
          .Register(registry)
          .Add({});
  prometheus::Family<prometheus::Counter>& finished_family =
      BuildCounter()
          .Name("ogf_batches_finished_total")
          .Help("Batches this node's workers brought to an end, by final "
                "status")
          .Register(registry);
  mirrored_counter finished_completed{
      &finished_family.Add({{"status", "completed"}})};
  mirrored_counter finished_failed{
      &finished_family.Add({{"status", "failed"}})};
  mirrored_counter finished_cancelled{
      &finished_family.Add({{"status", "cancelled"}})};
  prometheus::Family<prometheus::Counter>& activities_family =
      BuildCounter()
          .Name("ogf_activities_processed_total")
          .Help("Activities whose result this node recorded, by result")
          .Register(registry);
  mirrored_counter activities_succeeded{
      &activities_family.Add({{"result", "succeeded"}})};
  mirrored_counter activities_failed{
      &activities_family.Add({{"result", "failed"}})};
  mirrored_counter renewals{&BuildCounter()
                                 .Name("ogf_lease_renewals_total")
                                 .Help("Lease renewal statements of this node")
                                 .Register(registry)
                                 .Add({})};
  mirrored_counter leases_lost{&BuildCounter()
                                    .Name("ogf_leases_lost_total")
                                    .Help("Leases this node found lost")
                                    .Register(registry)
                                    .Add({})};
  mirrored_counter submit_transactions{
      &BuildCounter()
           .Name("ogf_submit_transactions_total")
           .Help("Group-commit transactions of submits without an "
                 "Idempotency-Key (compare with ogf_submits_committed_total)")
           .Register(registry)
           .Add({})};
  mirrored_counter submits_committed{
      &BuildCounter()
           .Name("ogf_submits_committed_total")
           .Help("Submits without an Idempotency-Key committed by group "
                 "commit")
           .Register(registry)
           .Add({})};
  mirrored_counter store_errors{
      &BuildCounter()
           .Name("ogf_store_errors_total")
           .Help("Failed database requests of this node's engine")
           .Register(registry)
           .Add({})};
  prometheus::Family<prometheus::Counter>& pruned_family =
      BuildCounter()
          .Name("ogf_retention_pruned_total")
          .Help("Rows this node deleted because their batch ended longer ago "
                "than --retention, by kind: batches, items (their "
                "activities), results")
          .Register(registry);
  mirrored_counter pruned_batches{&pruned_family.Add({{"kind", "batches"}})};
  mirrored_counter pruned_items{&pruned_family.Add({{"kind", "items"}})};
  mirrored_counter pruned_results{&pruned_family.Add({{"kind", "results"}})};
  mirrored_counter prune_rounds_skipped{
      &BuildCounter()
           .Name("ogf_retention_rounds_skipped_total")
           .Help("Retention rounds this node skipped because another node "
                 "held the retention lock")
           .Register(registry)
           .Add({})};
  prometheus::Gauge& last_prune =
      BuildGauge()
          .Name("ogf_retention_last_prune_timestamp_seconds")
          .Help("When this node last finished a retention round holding the "
                "lock (Unix time; 0 = never, or retention off)")
          .Register(registry)
          .Add({});
  prometheus::Family<prometheus::Counter>& refused =
      BuildCounter()
          .Name("ogf_http_connections_refused_total")
          .Help("Connections answered 503, 408 or 431 and closed before a "
                "request ran, by reason (over_capacity, queue_full, "
                "head_timeout, head_too_large)")
          .Register(registry);
  prometheus::Family<prometheus::Gauge>& connections =
      BuildGauge()
          .Name("ogf_http_connections")
          .Help("Open API connections: parked (idle or sending a request "
                "head, no thread), queued (a whole request waiting for a "
                "thread), busy (running)")
          .Register(registry);
  prometheus::Gauge& connections_max =
      BuildGauge()
          .Name("ogf_http_connections_max")
          .Help("Most open API connections (after RLIMIT_NOFILE)")
          .Register(registry)
          .Add({});
  prometheus::Family<prometheus::Counter>& callbacks_family =
      BuildCounter()
          .Name("ogf_callback_deliveries_total")
          .Help("Completion callback attempts of this node, by outcome: "
                "delivered (2xx), failed_attempt (to be retried), given_up "
                "(the delivery's last attempt failed)")
          .Register(registry);
  mirrored_counter callbacks_delivered{
      &callbacks_family.Add({{"outcome", "delivered"}})};
  mirrored_counter callbacks_failed{
      &callbacks_family.Add({{"outcome", "failed_attempt"}})};
  mirrored_counter callbacks_given_up{
      &callbacks_family.Add({{"outcome", "given_up"}})};
  prometheus::Gauge& callback_outbox_depth =
      BuildGauge()
          .Name("ogf_callback_outbox_depth")
          .Help("Completion callbacks not yet delivered (nor given up), in "
                "the whole database")
          .Register(registry)
          .Add({});
  prometheus::Gauge& callback_oldest_age =
      BuildGauge()
          .Name("ogf_callback_oldest_undelivered_age_seconds")
          .Help("Seconds since the end of the batch of the oldest undelivered "
                "completion callback (0 when none)")
          .Register(registry)
          .Add({});
  std::mutex engine_mutex; ///< guards the mirrored counters' `seen`
};

http_metrics::http_metrics() : impl_(std::make_unique<impl>()) {}

http_metrics::~http_metrics() = default;

void http_metrics::observe_request(const std::string& route,
                                   const std::string& method, int status,
                                   double seconds) {
  impl_->requests
      .Add({{"route", route},
            {"method", method},
            {"code", std::to_string(status)}})
      .Increment();
  impl_->durations.Add({{"route", route}}, latency_buckets).Observe(seconds);
}

void http_metrics::connection_refused(refusal why) {
  impl_->refused.Add({{"reason", to_string(why)}}).Increment();
}

void http_metrics::observe_connections(const gate_stats& stats) {
  impl_->connections.Add({{"state", "parked"}})
      .Set(static_cast<double>(stats.parked));
  impl_->connections.Add({{"state", "queued"}})
      .Set(static_cast<double>(stats.queued));
  impl_->connections.Add({{"state", "busy"}})
      .Set(static_cast<double>(stats.busy));
  impl_->connections_max.Set(static_cast<double>(stats.max_connections));
}

void http_metrics::batch_submitted() {
  impl_->submitted.Increment();
}

std::string http_metrics::render(const std::optional<engine_stats>& stats,
                                 const std::optional<health_report>& health) {
  {
    std::lock_guard<std::mutex> guard{impl_->engine_mutex};
    if (stats) {
      impl_->workers_busy.Set(stats->busy_workers);
      impl_->workers_total.Set(stats->workers);
      impl_->finished_completed.update(stats->batches_completed);
      impl_->finished_failed.update(stats->batches_failed);
      impl_->finished_cancelled.update(stats->batches_cancelled);
      impl_->activities_succeeded.update(stats->activities_succeeded);
      impl_->activities_failed.update(stats->activities_failed);
      impl_->renewals.update(stats->lease_renewals);
      impl_->leases_lost.update(stats->leases_lost);
      impl_->store_errors.update(stats->store_errors);
      impl_->submit_transactions.update(stats->submit_transactions);
      impl_->submits_committed.update(stats->submits_committed);
      impl_->pruned_batches.update(stats->pruned_batches);
      impl_->pruned_items.update(stats->pruned_items);
      impl_->pruned_results.update(stats->pruned_results);
      impl_->prune_rounds_skipped.update(stats->prune_rounds_skipped);
      impl_->last_prune.Set(static_cast<double>(stats->last_prune_us) / 1e6);
      impl_->callbacks_delivered.update(stats->callbacks_delivered);
      impl_->callbacks_failed.update(stats->callback_attempts_failed);
      impl_->callbacks_given_up.update(stats->callbacks_given_up);
      if (stats->callbacks_undelivered >= 0) {
        impl_->callback_outbox_depth.Set(
            static_cast<double>(stats->callbacks_undelivered));
        impl_->callback_oldest_age.Set(stats->callback_oldest_age_seconds);
      }
    }
    if (health && health->database_ok)
      impl_->queue_depth.Set(static_cast<double>(health->queue_depth));
  }
  return prometheus::TextSerializer{}.Serialize(impl_->registry.Collect());
}

} // namespace ogf::http
