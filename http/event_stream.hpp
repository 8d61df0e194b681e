// Server-Sent Events of one batch (GET /api/v1/batches/{id}/events): a
// small progress_listener_actor pushes into an event_queue, and the
// response's chunked content provider, on a server thread, takes from it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "actors/interfaces.hpp"

namespace ogf::http {

/// What an event stream writes next.
struct stream_event {
  enum kind_type {
    progress, ///< `data` is a progress object
    done,     ///< `data` is the final batch
    idle,     ///< nothing happened for a while: poll, or write a comment
    closed,   ///< the server is stopping: end the stream
  };
  kind_type kind = idle;
  nlohmann::json data;
};

/// The hand-over between a listener actor and one SSE response. Keeps only
/// the latest progress not yet written (older ones are superseded), so it
/// never grows and a slow client sees fewer, newer events. Thread-safe.
class event_queue {
public:
  /// `min_gap`: least time between two progress events (250 ms gives the
  /// CONTRACT's "at most 4 a second").
  explicit event_queue(std::chrono::milliseconds min_gap);

  /// Offers a progress object; replaces one not yet taken.
  void push_progress(nlohmann::json progress);

  /// Offers the final batch; taken after any pending progress.
  void push_done(nlohmann::json batch);

  /// Ends the stream (server stopping); wakes a waiting take().
  void close();

  /// Waits for the next event: a pending progress once `min_gap` has
  /// passed since the previous one, then done; `idle` after `idle_after`
  /// without either; `closed` after close().
  stream_event take(std::chrono::milliseconds idle_after);

private:
  using clock_type = std::chrono::steady_clock;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<nlohmann::json> progress_;
  std::optional<nlohmann::json> done_;
  bool closed_ = false;
  bool done_taken_ = false;
  clock_type::time_point last_progress_{};
  std::chrono::milliseconds min_gap_;
};

/// Spawns the listener of one stream: progress and done messages of the
/// engine go, as JSON, into `queue`; it quits after done.
progress_listener_actor
spawn_stream_listener(caf::actor_system& sys,
                      std::shared_ptr<event_queue> queue);

/// One SSE frame: "event: <name>\ndata: <json>\n\n".
std::string format_event(const char* name, const nlohmann::json& data);

} // namespace ogf::http
