#include "http/event_stream.hpp"

#include <caf/all.hpp>

#include "domain/json_mapping.hpp"

namespace ogf::http {

event_queue::event_queue(std::chrono::milliseconds min_gap)
    : min_gap_(min_gap) {}

void event_queue::push_progress(nlohmann::json progress) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (done_ || done_taken_)
      return; // the final progress comes with done
    progress_ = std::move(progress);
  }
  changed_.notify_all();
}

void event_queue::push_done(nlohmann::json batch) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (done_taken_)
      return;
    done_ = std::move(batch);
  }
  changed_.notify_all();
}

void event_queue::close() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    closed_ = true;
  }
  changed_.notify_all();
}

stream_event event_queue::take(std::chrono::milliseconds idle_after) {
  std::unique_lock<std::mutex> lock{mutex_};
  auto idle_at = clock_type::now() + idle_after;
  for (;;) {
    if (closed_)
      return {stream_event::closed, nullptr};
    auto now = clock_type::now();
    if (progress_) {
      auto ready_at = last_progress_ + min_gap_;
      if (now >= ready_at) {
        stream_event out{stream_event::progress, std::move(*progress_)};
        progress_.reset();
        last_progress_ = now;
        return out;
      }
      changed_.wait_until(lock, ready_at);
      continue;
    }
    if (done_) {
      stream_event out{stream_event::done, std::move(*done_)};
      done_.reset();
      done_taken_ = true;
      return out;
    }
    if (now >= idle_at)
      return {stream_event::idle, nullptr};
    changed_.wait_until(lock, idle_at);
  }
}

namespace {

progress_listener_actor::behavior_type
stream_listener(progress_listener_actor::pointer self,
                std::shared_ptr<event_queue> queue) {
  return {
      [queue](progress_atom, const domain::batch_progress& p) {
        queue->push_progress(domain::to_json(p));
      },
      [self, queue](done_atom, const domain::batch& b) {
        queue->push_done(domain::to_json(b));
        self->quit();
      },
  };
}

} // namespace

progress_listener_actor
spawn_stream_listener(caf::actor_system& sys,
                      std::shared_ptr<event_queue> queue) {
  return sys.spawn(stream_listener, std::move(queue));
}

std::string format_event(const char* name, const nlohmann::json& data) {
  std::string out = "event: ";
  out += name;
  out += "\ndata: ";
  out += domain::dump_exact(data); // decimals keep every digit
  out += "\n\n";
  return out;
}

} // namespace ogf::http
